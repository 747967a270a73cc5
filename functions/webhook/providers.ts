import type * as core from 'zod/v4/core';
import { formatPath } from '#shared/format-zod-error.ts';
import type { Provider, PushCommit, PushEvent } from '#shared/push-event.ts';
import * as z from '#shared/zod-mini.ts';
import type { SignatureScheme } from './signature.ts';

/** A header as the handler looked for it: the name (for messages) and its value, if sent. */
export interface HeaderValue {
  name: string;
  value: string | undefined;
}

export type Headers = Record<string, string | undefined>;

/** One push as normalized from a provider payload, with what the trigger rules need besides it. */
export interface NormalizedPush {
  event: PushEvent;
  /**
   * Every path added, modified or removed by the pushed commits, or `undefined` when the payload
   * does not tell (Bitbucket sends no file lists; GitLab and Gitea cut long pushes short). Path
   * filters cannot be judged then, and the push is not filtered out by them.
   */
  changedPaths: string[] | undefined;
}

/** What a verified payload says. Built only after its signature verified. */
export type Normalized =
  | { kind: 'invalid'; field: string; message: string }
  | { kind: 'ignored'; repositoryFullName: string; reason: string }
  | { kind: 'pushes'; repositoryFullName: string; pushes: NormalizedPush[] };

export type EventClass = 'push' | 'ping' | 'other';

/** How one provider signs, labels and shapes its deliveries. */
export interface ProviderAdapter {
  scheme: SignatureScheme;
  signature(headers: Headers): HeaderValue;
  event(headers: Headers): HeaderValue;
  delivery(headers: Headers): HeaderValue;
  classify(event: string): EventClass;
  normalize(payload: unknown, deliveryId: string): Normalized;
}

const ZERO_SHA = /^0+$/;
const Sha = z.string().check(z.regex(/^[0-9a-f]{7,64}$/, 'expected a hex commit SHA'));
const NonEmpty = z.string().check(z.minLength(1));
/** A file list; `null`/absent means the provider did not say, which is not the same as "none". */
const Paths = z.nullish(z.array(z.string()));
const Text = z.nullish(z.string());

function firstHeader(headers: Headers, names: readonly string[]): HeaderValue {
  for (const name of names) {
    const value = headers[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return { name: names[0]!, value: undefined };
}

function invalid(error: core.$ZodError): Normalized {
  const issue = error.issues[0]!;
  const field = formatPath(issue.path);
  return { kind: 'invalid', field, message: `${field}: ${issue.message}` };
}

type RefKind = { refType: 'branch' | 'tag'; refName: string };

function splitRef(ref: string): RefKind | undefined {
  if (ref.startsWith('refs/heads/') && ref.length > 'refs/heads/'.length)
    return { refType: 'branch', refName: ref.slice('refs/heads/'.length) };
  if (ref.startsWith('refs/tags/') && ref.length > 'refs/tags/'.length)
    return { refType: 'tag', refName: ref.slice('refs/tags/'.length) };
  return undefined;
}

function person(name: string, email: string | null | undefined): { name: string; email?: string } {
  return email && email !== '[REDACTED]' ? { name, email } : { name };
}

function optional<K extends string>(key: K, value: string | null | undefined): { [P in K]?: string } {
  return (value ? { [key]: value } : {}) as { [P in K]?: string };
}

/** Union of the file lists, or `undefined` when any commit lacks them. */
function collectPaths(
  commits: ReadonlyArray<{
    added?: string[] | null | undefined;
    modified?: string[] | null | undefined;
    removed?: string[] | null | undefined;
  }>,
): string[] | undefined {
  const paths = new Set<string>();
  for (const commit of commits) {
    if (!commit.added && !commit.modified && !commit.removed) return undefined;
    for (const list of [commit.added, commit.modified, commit.removed])
      for (const p of list ?? []) paths.add(p);
  }
  return [...paths];
}

/** A head commit the payload does not describe (e.g. a GitLab tag push): only its id is known. */
function bareCommit(id: string, author: { name: string; email?: string }, url: string): PushCommit {
  return { id, message: '', author, timestamp: '', url, added: [], modified: [], removed: [] };
}

/**
 * A payload schema built on its provider's first delivery rather than at cold start: a delivery
 * needs only its own provider's, and most deployments use one provider.
 */
function once<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => {
    built ??= build();
    return built;
  };
}

// GitHub and Gitea/Forgejo send the same push shape (Gitea copied GitHub's).
const hubCommitSchema = once(() =>
  z.object({
    id: Sha,
    message: z.string(),
    timestamp: z.string(),
    url: z.string(),
    author: z.object({ name: z.string(), email: Text }),
    added: Paths,
    modified: Paths,
    removed: Paths,
  }),
);
type HubCommit = z.infer<ReturnType<typeof hubCommitSchema>>;

const gitHubPushSchema = once(() =>
  z.object({
    ref: NonEmpty,
    before: Sha,
    after: Sha,
    repository: z.object({
      full_name: NonEmpty,
      clone_url: NonEmpty,
      default_branch: Text,
      html_url: Text,
    }),
    head_commit: z.nullish(hubCommitSchema()),
    commits: z.nullish(z.array(hubCommitSchema())),
    pusher: z.object({ name: z.string(), email: Text }),
  }),
);

// Gitea/Forgejo: GitHub's shape, plus a commit total and its own pusher fields.
const giteaPushSchema = once(() =>
  z.extend(gitHubPushSchema(), {
    total_commits: z.nullish(z.number().check(z.int())),
    pusher: z.object({ login: Text, username: Text, full_name: Text, email: Text }),
  }),
);

function hubCommit(c: HubCommit): PushCommit {
  return {
    id: c.id,
    message: c.message,
    author: person(c.author.name, c.author.email),
    timestamp: c.timestamp,
    url: c.url,
    added: c.added ?? [],
    modified: c.modified ?? [],
    removed: c.removed ?? [],
  };
}

interface RepositoryParts {
  fullName: string;
  cloneUrl: string;
  defaultBranch?: string | null | undefined;
  htmlUrl?: string | null | undefined;
}

function repository(parts: RepositoryParts): PushEvent['repository'] {
  return {
    fullName: parts.fullName,
    cloneUrl: parts.cloneUrl,
    // Always present (empty when the provider does not say, as Bitbucket): the state machine reads it.
    defaultBranch: parts.defaultBranch ?? '',
    ...optional('htmlUrl', parts.htmlUrl),
  };
}

/** GitHub-shaped payloads (GitHub, Gitea, Forgejo) into one PushEvent. */
function normalizeHub(
  provider: Provider,
  body: z.infer<ReturnType<typeof gitHubPushSchema>> | z.infer<ReturnType<typeof giteaPushSchema>>,
  deliveryId: string,
  pusher: { name: string; email?: string },
  pathsComplete: boolean,
): Normalized {
  const repositoryFullName = body.repository.full_name;
  if (ZERO_SHA.test(body.after))
    return { kind: 'ignored', repositoryFullName, reason: 'branch or tag deletion' };
  const ref = splitRef(body.ref);
  if (!ref)
    return { kind: 'ignored', repositoryFullName, reason: `ref "${body.ref}" is not a branch or tag` };
  const commits = body.commits ?? [];
  const head =
    body.head_commit ?? commits.find((c) => c.id === body.after) ?? commits[commits.length - 1] ?? undefined;
  // For an annotated tag `after` is the tag object; `head_commit` is the commit it points to.
  const tagObject =
    ref.refType === 'tag' && body.head_commit && body.head_commit.id !== body.after ? body.after : undefined;
  const after = tagObject === undefined ? body.after : (head?.id ?? body.after);
  const event: PushEvent = {
    provider,
    deliveryId,
    repository: repository({
      fullName: repositoryFullName,
      cloneUrl: body.repository.clone_url,
      defaultBranch: body.repository.default_branch,
      htmlUrl: body.repository.html_url,
    }),
    ref: body.ref,
    ...ref,
    before: body.before,
    after,
    ...(tagObject === undefined ? {} : { tagObject }),
    headCommit: head
      ? hubCommit(head)
      : bareCommit(after, pusher, `${body.repository.html_url ?? ''}/commit/${after}`),
    commits: commits.map(hubCommit),
    pusher,
  };
  return {
    kind: 'pushes',
    repositoryFullName,
    pushes: [{ event, changedPaths: pathsComplete ? collectPaths(commits) : undefined }],
  };
}

/** GitHub caps `commits` at 2048; a push that long may have changed paths the payload omits. */
const GITHUB_COMMIT_LIST_CAP = 2048;

export const github: ProviderAdapter = {
  scheme: 'hmac-sha256-prefixed',
  signature: (h) => firstHeader(h, ['x-hub-signature-256']),
  event: (h) => firstHeader(h, ['x-github-event']),
  delivery: (h) => firstHeader(h, ['x-github-delivery']),
  classify: (event) => (event === 'push' ? 'push' : event === 'ping' ? 'ping' : 'other'),
  normalize(payload, deliveryId) {
    const parsed = gitHubPushSchema().safeParse(payload);
    if (!parsed.success) return invalid(parsed.error);
    const body = parsed.data;
    const complete = (body.commits?.length ?? 0) < GITHUB_COMMIT_LIST_CAP;
    return normalizeHub('github', body, deliveryId, person(body.pusher.name, body.pusher.email), complete);
  },
};

/** Gitea and Forgejo (Forgejo sends its X-Forgejo-* headers and, for compatibility, the X-Gitea-* ones). */
export const gitea: ProviderAdapter = {
  scheme: 'hmac-sha256-hex',
  signature: (h) => firstHeader(h, ['x-gitea-signature', 'x-forgejo-signature']),
  event: (h) => firstHeader(h, ['x-gitea-event', 'x-forgejo-event']),
  delivery: (h) => firstHeader(h, ['x-gitea-delivery', 'x-forgejo-delivery']),
  classify: (event) => (event === 'push' ? 'push' : 'other'),
  normalize(payload, deliveryId) {
    const parsed = giteaPushSchema().safeParse(payload);
    if (!parsed.success) return invalid(parsed.error);
    const body = parsed.data;
    // "Test delivery" sends the branch head as both before and after; a real push always moves the ref.
    if (body.before === body.after)
      return { kind: 'ignored', repositoryFullName: body.repository.full_name, reason: 'test delivery' };
    const name = body.pusher.login || body.pusher.username || body.pusher.full_name || 'unknown';
    const complete = body.total_commits == null || body.total_commits <= (body.commits?.length ?? 0);
    return normalizeHub('gitea', body, deliveryId, person(name, body.pusher.email), complete);
  },
};

// GitLab's commit entries carry the same fields as GitHub's and Gitea's.
type GitLabCommit = HubCommit;

const gitLabPushSchema = once(() =>
  z.object({
    object_kind: z.enum(['push', 'tag_push']),
    ref: NonEmpty,
    before: z.nullish(Sha),
    after: z.nullish(Sha),
    checkout_sha: z.nullish(Sha),
    user_name: z.string(),
    user_username: Text,
    user_email: Text,
    project: z.object({
      path_with_namespace: NonEmpty,
      git_http_url: NonEmpty,
      default_branch: Text,
      web_url: Text,
    }),
    // Old GitLab versions send "" instead of an empty list.
    commits: z.nullish(z.union([z.array(hubCommitSchema()), z.literal('')])),
    total_commits_count: z.nullish(z.number().check(z.int())),
  }),
);

export const gitlab: ProviderAdapter = {
  scheme: 'token',
  signature: (h) => firstHeader(h, ['x-gitlab-token']),
  event: (h) => firstHeader(h, ['x-gitlab-event']),
  delivery: (h) => firstHeader(h, ['x-gitlab-event-uuid']),
  classify: (event) => (event === 'Push Hook' || event === 'Tag Push Hook' ? 'push' : 'other'),
  normalize(payload, deliveryId) {
    const parsed = gitLabPushSchema().safeParse(payload);
    if (!parsed.success) return invalid(parsed.error);
    const body = parsed.data;
    const repositoryFullName = body.project.path_with_namespace;
    const commits: GitLabCommit[] = Array.isArray(body.commits) ? body.commits : [];
    // "Test" builds its sample from the last three commits of the default branch: `before` is one of
    // the listed commits (a real push never lists the commit it started from), or absent when the
    // project is empty.
    if (!body.before || !body.after || commits.some((c) => c.id === body.before))
      return { kind: 'ignored', repositoryFullName, reason: 'test delivery' };
    if (ZERO_SHA.test(body.after))
      return { kind: 'ignored', repositoryFullName, reason: 'branch or tag deletion' };
    const ref = splitRef(body.ref);
    if (!ref)
      return { kind: 'ignored', repositoryFullName, reason: `ref "${body.ref}" is not a branch or tag` };
    const pusher = person(body.user_username || body.user_name, body.user_email);
    // For annotated tags `after` is the tag object; the commit to build and report on is `checkout_sha`.
    const headId = body.checkout_sha ?? body.after;
    const tagObject = ref.refType === 'tag' && headId !== body.after ? body.after : undefined;
    const head = commits.find((c) => c.id === headId);
    const webUrl = body.project.web_url ?? '';
    const event: PushEvent = {
      provider: 'gitlab',
      deliveryId,
      repository: repository({
        fullName: repositoryFullName,
        cloneUrl: body.project.git_http_url,
        defaultBranch: body.project.default_branch,
        htmlUrl: body.project.web_url,
      }),
      ref: body.ref,
      ...ref,
      before: body.before,
      after: headId,
      ...(tagObject === undefined ? {} : { tagObject }),
      headCommit: head ? hubCommit(head) : bareCommit(headId, pusher, `${webUrl}/-/commit/${headId}`),
      commits: commits.map(hubCommit),
      pusher,
    };
    const complete = body.total_commits_count == null || body.total_commits_count <= commits.length;
    return {
      kind: 'pushes',
      repositoryFullName,
      pushes: [{ event, changedPaths: complete ? collectPaths(commits) : undefined }],
    };
  },
};

const bitbucketCommitSchema = once(() =>
  z.object({
    hash: Sha,
    message: Text,
    date: Text,
    author: z.nullish(
      z.object({ raw: Text, user: z.nullish(z.object({ display_name: Text, nickname: Text })) }),
    ),
    links: z.nullish(z.object({ html: z.nullish(z.object({ href: z.string() })) })),
  }),
);
type BitbucketCommit = z.infer<ReturnType<typeof bitbucketCommitSchema>>;

const bitbucketPushSchema = once(() => {
  const BitbucketRef = z.object({ type: z.string(), name: NonEmpty, target: bitbucketCommitSchema() });
  return z.object({
    actor: z.nullish(z.object({ display_name: Text, nickname: Text })),
    repository: z.object({
      full_name: NonEmpty,
      links: z.object({ html: z.object({ href: NonEmpty }) }),
    }),
    push: z.object({
      changes: z
        .array(
          z.object({
            new: z.nullish(BitbucketRef),
            old: z.nullish(BitbucketRef),
            commits: z.nullish(z.array(bitbucketCommitSchema())),
          }),
        )
        .check(z.minLength(1)),
    }),
  });
});

/** `Name <email>` as Bitbucket's `author.raw` spells the git author. */
function bitbucketAuthor(author: BitbucketCommit['author']): { name: string; email?: string } {
  const raw = author?.raw ?? '';
  const match = /^(.*?)\s*<([^>]*)>\s*$/.exec(raw);
  const name = (match ? match[1] : raw) || author?.user?.display_name || 'unknown';
  return person(name, match?.[2]);
}

function bitbucketCommit(c: BitbucketCommit, repoHtml: string): PushCommit {
  return {
    id: c.hash,
    message: c.message ?? '',
    author: bitbucketAuthor(c.author),
    timestamp: c.date ?? '',
    url: c.links?.html?.href ?? `${repoHtml}/commits/${c.hash}`,
    added: [],
    modified: [],
    removed: [],
  };
}

export const bitbucket: ProviderAdapter = {
  scheme: 'hmac-sha256-prefixed',
  signature: (h) => firstHeader(h, ['x-hub-signature']),
  event: (h) => firstHeader(h, ['x-event-key']),
  delivery: (h) => firstHeader(h, ['x-request-uuid']),
  classify: (event) => (event === 'repo:push' ? 'push' : 'other'),
  normalize(payload, deliveryId) {
    const parsed = bitbucketPushSchema().safeParse(payload);
    if (!parsed.success) return invalid(parsed.error);
    const body = parsed.data;
    const repositoryFullName = body.repository.full_name;
    const repoHtml = body.repository.links.html.href.replace(/\/+$/, '');
    const pusher = person(body.actor?.nickname || body.actor?.display_name || 'unknown', undefined);
    const pushes: NormalizedPush[] = [];
    // One delivery may carry several refs (e.g. `git push --all`); each becomes a candidate and
    // the handler starts the first one the trigger rules accept.
    for (const change of body.push.changes) {
      if (!change.new) continue;
      const refType = change.new.type === 'branch' ? 'branch' : change.new.type === 'tag' ? 'tag' : undefined;
      if (!refType) continue;
      const ref = `${refType === 'branch' ? 'refs/heads/' : 'refs/tags/'}${change.new.name}`;
      // Bitbucket lists commits newest first; the PushEvent lists them oldest first like the others.
      const commits = [...(change.commits ?? [])].reverse().map((c) => bitbucketCommit(c, repoHtml));
      pushes.push({
        event: {
          provider: 'bitbucket',
          deliveryId,
          repository: repository({
            fullName: repositoryFullName,
            cloneUrl: `${repoHtml}.git`,
            htmlUrl: repoHtml,
          }),
          ref,
          refType,
          refName: change.new.name,
          before: change.old?.target.hash ?? '0000000000000000000000000000000000000000',
          after: change.new.target.hash,
          headCommit: bitbucketCommit(change.new.target, repoHtml),
          commits,
          pusher,
        },
        changedPaths: undefined,
      });
    }
    if (pushes.length === 0) {
      const deletion = body.push.changes.every((c) => !c.new);
      return {
        kind: 'ignored',
        repositoryFullName,
        reason: deletion ? 'branch or tag deletion' : 'no branch or tag was updated',
      };
    }
    return { kind: 'pushes', repositoryFullName, pushes };
  },
};

export const adapters: Record<Provider, ProviderAdapter> = { github, gitlab, gitea, bitbucket };
