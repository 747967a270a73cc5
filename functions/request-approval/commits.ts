import { spawn } from 'node:child_process';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import type { ChangeCommit } from '#shared/approval/summary.ts';
import { type DeploymentConfig, findRepositoryConfig } from '#shared/deployment-config.ts';
import {
  apiBase,
  authHeaders,
  describeResponse,
  type Fetch,
  gitlabProjectId,
  ownerAndName,
} from '#shared/provider-api.ts';
import type { PushCommit, PushEvent } from '#shared/push-event.ts';
import type { ResolveSecret } from '#shared/secrets.ts';

/** Commits listed in an approval email; more are counted, not listed. */
export const MAX_LISTED_COMMITS = 30;

/** Commits between what production runs and what is about to ship, newest first. */
export interface CommitRange {
  commits: ChangeCommit[];
  /** How many commits the range holds in all. */
  total: number;
  /** Where the list came from, for the reader: `GitHub compare`, `git log`. */
  source: string;
}

/**
 * Lists the commits that a deployment of `head` adds to production, which runs `base`. `base`
 * undefined means production has never run a Stepline deployment: the latest commits up to `head`.
 * Throws when the range cannot be listed; the caller falls back to the push's own commits.
 */
export interface CommitLister {
  list(request: { push: PushEvent; base: string | undefined; head: string }): Promise<CommitRange>;
}

const firstLine = (message: string) => (message.split('\n', 1)[0] ?? '').trim().slice(0, 200);

function newestFirst(commits: ChangeCommit[], total: number, source: string): CommitRange {
  const ordered = [...commits].reverse();
  return { commits: ordered.slice(0, MAX_LISTED_COMMITS), total, source };
}

/** The push's own commits (what the payload carried), newest first. */
export function pushCommits(push: PushEvent): CommitRange {
  const commits = push.commits.length > 0 ? push.commits : [push.headCommit];
  return newestFirst(commits.map(fromPushCommit), commits.length, 'the push');
}

function fromPushCommit(commit: PushCommit): ChangeCommit {
  return {
    id: commit.id,
    message: firstLine(commit.message),
    author: commit.author,
    ...(commit.url ? { url: commit.url } : {}),
  };
}

const HubCompare = z.object({
  total_commits: z.number().int().optional(),
  commits: z.array(
    z.object({
      sha: z.string(),
      html_url: z.string().nullish(),
      commit: z.object({
        message: z.string(),
        author: z.object({ name: z.string(), email: z.string().nullish() }).nullish(),
      }),
    }),
  ),
});

const GitLabCompare = z.object({
  commits: z.array(
    z.object({
      id: z.string(),
      message: z.string(),
      author_name: z.string(),
      author_email: z.string().nullish(),
      web_url: z.string().nullish(),
    }),
  ),
});

const BitbucketCommits = z.object({
  values: z.array(
    z.object({
      hash: z.string(),
      message: z.string(),
      author: z.object({ raw: z.string(), user: z.object({ display_name: z.string() }).nullish() }),
      links: z.object({ html: z.object({ href: z.string() }).nullish() }).nullish(),
    }),
  ),
  next: z.string().nullish(),
});

function person(name: string, email: string | null | undefined): { name: string; email?: string } {
  return email ? { name, email } : { name };
}

/**
 * Compare APIs of the providers (the AWS path): GitHub and Gitea/Forgejo
 * `GET …/compare/{base}...{head}`, GitLab `GET …/repository/compare?from=&to=`, Bitbucket
 * `GET …/commits/{head}?exclude={base}`. The repository's `providerToken` and `apiUrl` come from
 * the deployment configuration. With no `base`, the push's own commits are the list.
 */
export function providerCommitLister(options: {
  config: DeploymentConfig;
  resolveSecret: ResolveSecret;
  fetch?: Fetch;
}): CommitLister {
  const doFetch = options.fetch ?? globalThis.fetch;
  return {
    async list({ push, base, head }) {
      if (base === undefined) return pushCommits(push);
      const entry = findRepositoryConfig(options.config, push.provider, push.repository.fullName);
      const token = entry?.providerToken ? await options.resolveSecret(entry.providerToken) : undefined;
      const headers = authHeaders(push.provider, token);
      const get = async (url: string): Promise<unknown> => {
        const response = await doFetch(url, { headers, redirect: 'follow' });
        if (!response.ok) throw new Error(`GET ${url} ${await describeResponse(response)}`);
        return response.json();
      };
      const repository = push.repository.fullName;
      const range = `${encodeURIComponent(base)}...${encodeURIComponent(head)}`;
      switch (push.provider) {
        case 'github':
        case 'gitea': {
          const { owner, name } = ownerAndName(repository);
          const root = apiBase(push.provider, entry?.apiUrl);
          const url =
            push.provider === 'github'
              ? `${root}/repos/${owner}/${name}/compare/${range}`
              : `${root}/api/v1/repos/${owner}/${name}/compare/${range}`;
          const body = HubCompare.parse(await get(url));
          const commits = body.commits.map((c) => ({
            id: c.sha,
            message: firstLine(c.commit.message),
            author: person(c.commit.author?.name ?? 'unknown', c.commit.author?.email),
            ...(c.html_url ? { url: c.html_url } : {}),
          }));
          const label = push.provider === 'github' ? 'GitHub compare' : 'Gitea compare';
          return newestFirst(commits, body.total_commits ?? commits.length, label);
        }
        case 'gitlab': {
          const root = apiBase('gitlab', entry?.apiUrl);
          const url = `${root}/api/v4/projects/${gitlabProjectId(repository)}/repository/compare?from=${encodeURIComponent(base)}&to=${encodeURIComponent(head)}`;
          const body = GitLabCompare.parse(await get(url));
          // GitLab lists the compare's commits oldest first.
          const commits = body.commits.map((c) => ({
            id: c.id,
            message: firstLine(c.message),
            author: person(c.author_name, c.author_email),
            ...(c.web_url ? { url: c.web_url } : {}),
          }));
          return newestFirst(commits, commits.length, 'GitLab compare');
        }
        case 'bitbucket': {
          const { owner, name } = ownerAndName(repository);
          const root = apiBase('bitbucket', entry?.apiUrl);
          const url = `${root}/2.0/repositories/${owner}/${name}/commits/${encodeURIComponent(head)}?exclude=${encodeURIComponent(base)}&pagelen=${MAX_LISTED_COMMITS}`;
          const body = BitbucketCommits.parse(await get(url));
          // Bitbucket lists newest first; reverse so newestFirst restores that order.
          const commits = body.values
            .map((c) => ({
              id: c.hash,
              message: firstLine(c.message),
              author: { name: c.author.user?.display_name ?? c.author.raw.replace(/\s*<[^>]*>$/, '') },
              ...(c.links?.html?.href ? { url: c.links.html.href } : {}),
            }))
            .reverse();
          const range = newestFirst(commits, commits.length, 'Bitbucket commits');
          // Only the first page was read: say "at least" by counting one more than listed.
          return body.next ? { ...range, total: range.total + 1 } : range;
        }
      }
    },
  };
}

/**
 * `git log` of the pushed repository on this machine (the local runtime), which is the push's
 * `cloneUrl` (a `file://` URL or an absolute path), as {@link gitArchiver} reads it.
 */
export function gitCommitLister(options: { gitBinary?: string; latest?: number } = {}): CommitLister {
  const gitBinary = options.gitBinary ?? 'git';
  return {
    async list({ push, base, head }) {
      const dir = localPath(push.repository.cloneUrl);
      const run = (args: string[]) => git(gitBinary, dir, args);
      const spec = base === undefined ? [head] : [`${base}..${head}`];
      if (base !== undefined) await run(['cat-file', '-e', `${base}^{commit}`]);
      const total = Number(
        await run(['rev-list', '--count', ...(base === undefined ? ['-n', '1000'] : []), ...spec]),
      );
      const out = await run([
        'log',
        `--max-count=${MAX_LISTED_COMMITS}`,
        '--format=%H%x1f%an%x1f%ae%x1f%s%x1e',
        ...spec,
      ]);
      const commits = out
        .split('\x1e')
        .map((record) => record.trim())
        .filter(Boolean)
        .map((record) => {
          const [id = '', name = '', email = '', subject = ''] = record.split('\x1f');
          return { id, message: firstLine(subject), author: person(name, email) };
        });
      // git log is newest first already.
      return { commits, total, source: 'git log' };
    },
  };
}

function localPath(cloneUrl: string): string {
  if (cloneUrl.startsWith('file://')) return fileURLToPath(cloneUrl);
  if (isAbsolute(cloneUrl)) return cloneUrl;
  throw new Error(`clone URL ${JSON.stringify(cloneUrl)} is not a repository on this machine`);
}

function git(gitBinary: string, cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(gitBinary, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', (error) => reject(new Error(`could not run git in ${cwd}: ${error.message}`)));
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout.trim())
        : reject(new Error(`git ${args[0]} failed in ${cwd}: ${stderr.trim() || `exit ${code}`}`)),
    );
  });
}
