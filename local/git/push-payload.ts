import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expectedSignature } from '#functions/webhook/signature.ts';
import { git } from './git.ts';

const zeroSha = '0000000000000000000000000000000000000000';
/** GitHub lists at most 20 commits in a push payload; so do we. */
const maxCommits = 20;

export interface PushSpec {
  /** Repository whose objects hold `after` (a work tree or a bare repository). */
  repoDir: string;
  /** `owner/name` as a provider would name it. */
  fullName: string;
  ref: string;
  before: string;
  after: string;
  /** URL the pipeline fetches the source from; a `file://` URL of `repoDir` by default. */
  cloneUrl?: string;
  pusher?: { name: string; email?: string };
}

/**
 * Builds the body GitHub sends for a `push` event (the documented shape, with the fields
 * Stepline reads), from a real repository: each commit's message, author and changed paths.
 */
export async function buildGitHubPushPayload(spec: PushSpec): Promise<Record<string, unknown>> {
  const deleted = spec.after === zeroSha;
  const created = spec.before === zeroSha;
  const range = created
    ? [spec.after, `--max-count=${maxCommits}`]
    : [`${spec.before}..${spec.after}`, `--max-count=${maxCommits}`];
  const shas = deleted
    ? []
    : (await git(spec.repoDir, ['rev-list', '--reverse', ...range])).split('\n').filter(Boolean);
  const commits = await Promise.all(shas.map((sha) => describeCommit(spec.repoDir, sha)));
  const cloneUrl = spec.cloneUrl ?? pathToFileURL(spec.repoDir).href;
  const [owner = 'local', name = basename(spec.repoDir)] = spec.fullName.split('/');
  // What HEAD names, as a provider reports the repository's default branch (a bare remote's HEAD).
  const defaultBranch = await git(spec.repoDir, ['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() =>
    spec.ref.startsWith('refs/heads/') ? spec.ref.slice('refs/heads/'.length) : 'main',
  );
  const pusher = spec.pusher ?? {
    name: commits.at(-1)?.author.name ?? 'stepline',
    email: commits.at(-1)?.author.email,
  };
  return {
    ref: spec.ref,
    before: spec.before,
    after: spec.after,
    created,
    deleted,
    forced: false,
    base_ref: null,
    compare: `${cloneUrl}#${spec.before.slice(0, 12)}...${spec.after.slice(0, 12)}`,
    commits,
    head_commit: commits.at(-1) ?? null,
    repository: {
      id: 0,
      name,
      full_name: spec.fullName,
      private: true,
      owner: { name: owner, login: owner },
      html_url: cloneUrl,
      clone_url: cloneUrl,
      default_branch: defaultBranch,
      master_branch: defaultBranch,
    },
    pusher,
    sender: { login: pusher.name },
  };
}

async function describeCommit(repoDir: string, sha: string) {
  const format = ['%H', '%an', '%ae', '%aI', '%cn', '%ce', '%B'].join('%x00');
  const [
    id = sha,
    authorName = '',
    authorEmail = '',
    timestamp = '',
    committerName = '',
    committerEmail = '',
    message = '',
  ] = (await git(repoDir, ['show', '-s', `--format=${format}`, sha])).split('\0');
  const changes = await git(repoDir, [
    'diff-tree',
    '--root',
    '--no-commit-id',
    '--name-status',
    '-r',
    '-M',
    sha,
  ]);
  const added: string[] = [];
  const removed: string[] = [];
  const modified: string[] = [];
  for (const line of changes.split('\n').filter(Boolean)) {
    const [status = '', path = '', renamedTo] = line.split('\t');
    if (status.startsWith('R') && renamedTo) {
      removed.push(path);
      added.push(renamedTo);
    } else if (status === 'A') added.push(path);
    else if (status === 'D') removed.push(path);
    else modified.push(path);
  }
  return {
    id,
    tree_id: await git(repoDir, ['rev-parse', `${sha}^{tree}`]),
    distinct: true,
    message: message.trim(),
    timestamp,
    url: `${pathToFileURL(repoDir).href}#${id}`,
    author: { name: authorName, email: authorEmail, username: authorName },
    committer: { name: committerName, email: committerEmail, username: committerName },
    added,
    removed,
    modified,
  };
}

export interface Delivery {
  deliveryId: string;
  status: number;
  body: unknown;
}

/** Sends a push the way GitHub does: JSON body, `X-Hub-Signature-256` over its bytes, a delivery id. */
export async function deliverGitHubPush(
  webhookUrl: string,
  secret: string,
  payload: Record<string, unknown>,
  deliveryId: string = randomUUID(),
): Promise<Delivery> {
  const body = Buffer.from(JSON.stringify(payload));
  const response = await fetch(webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Stepline-Hookshot/local',
      'x-github-event': 'push',
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': expectedSignature('hmac-sha256-prefixed', secret, body),
    },
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text: the reply was not JSON
  }
  return { deliveryId, status: response.status, body: parsed };
}

export { zeroSha };
