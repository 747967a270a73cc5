import type { Provider } from './push-event.ts';

/** `fetch` as the provider clients call it; tests pass one bound to a loopback server. */
export type Fetch = typeof globalThis.fetch;

/**
 * Default API base of each provider. Self-hosted GitLab, Gitea and Forgejo set `apiUrl` in the
 * deployment configuration (the server's base URL, e.g. `https://git.example.com`).
 */
export const defaultApiUrls: Record<Provider, string | undefined> = {
  github: 'https://api.github.com',
  gitlab: 'https://gitlab.com',
  gitea: undefined,
  bitbucket: 'https://api.bitbucket.org',
};

/** Bitbucket Cloud serves source archives from its web host, not from its API host. */
export const bitbucketWebUrl = 'https://bitbucket.org';

/** The API base for `provider`, without a trailing slash. */
export function apiBase(provider: Provider, apiUrl: string | undefined): string {
  const base = apiUrl ?? defaultApiUrls[provider];
  if (!base) {
    throw new Error(
      `${provider} has no public default server: set "apiUrl" for this repository in the deployment configuration (e.g. "https://codeberg.org")`,
    );
  }
  return base.replace(/\/+$/, '');
}

/** Headers that authenticate a request to the provider's API with `token`, as each provider documents it. */
export function authHeaders(provider: Provider, token: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': 'stepline' };
  if (provider === 'github') {
    headers.accept = 'application/vnd.github+json';
    headers['x-github-api-version'] = '2022-11-28';
  }
  if (token === undefined || token === '') return headers;
  switch (provider) {
    // GitLab takes personal, project and group access tokens "with OAuth-compliant headers" as well
    // as in PRIVATE-TOKEN (docs.gitlab.com/api/rest/authentication). Authorization is the header
    // fetch drops when a redirect leaves the origin; a PRIVATE-TOKEN would follow it to another host.
    case 'github':
    case 'gitlab':
    case 'bitbucket':
      headers.authorization = `Bearer ${token}`;
      break;
    case 'gitea':
      headers.authorization = `token ${token}`;
      break;
  }
  return headers;
}

/**
 * `owner` and `name` of an `owner/name` repository, each URL-encoded for a path segment.
 * GitLab projects are addressed by their whole (URL-encoded) path instead: see {@link gitlabProjectId}.
 */
export function ownerAndName(fullName: string): { owner: string; name: string } {
  const parts = fullName.split('/');
  if (parts.length !== 2 || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`expected a repository name like "owner/name", got ${JSON.stringify(fullName)}`);
  }
  return { owner: encodeURIComponent(parts[0]!), name: encodeURIComponent(parts[1]!) };
}

/** GitLab's `:id` for a project given by its full path (`group/subgroup/project` → `group%2Fsubgroup%2Fproject`). */
export function gitlabProjectId(fullName: string): string {
  if (fullName.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`expected a GitLab project path like "group/project", got ${JSON.stringify(fullName)}`);
  }
  return encodeURIComponent(fullName);
}

/**
 * `answered 404 Not Found: <first 200 characters of the body>` — for error messages. The request's
 * URL is named by the caller; tokens are only ever in headers, so neither carries a secret.
 */
export async function describeResponse(response: Response): Promise<string> {
  let body = '';
  try {
    body = (await response.text()).replace(/\s+/g, ' ').trim().slice(0, 200);
  } catch {
    // The status is the useful part; an unreadable body adds nothing.
  }
  const status = `answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  return body ? `${status}: ${body}` : status;
}
