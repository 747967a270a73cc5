import type { Provider } from './push-event.ts';

/**
 * Every key of the artifact bucket that FetchSource and the runner use, built in this one module.
 * The CDK stack grants each repository's task roles exactly the two prefixes below, so these
 * functions and those grants must agree (test/infra checks that they do):
 *
 * ```
 * runs/<provider>/<repository>/<run>/source.tar.gz           FetchSource
 * runs/<provider>/<repository>/<run>/stepline.json           FetchSource
 * runs/<provider>/<repository>/<run>/logs/<stage>.log        runner
 * runs/<provider>/<repository>/<run>/artifacts/build.tar.gz  runner (Build), read by Test and PublishImage
 * caches/<provider>/<repository>/<scope>/<stage>/<key>.tar.gz  runner (Build, Test)
 * ```
 *
 * `<repository>` is ONE key segment ({@link repositorySegment}): `acme/api` is `acme%2Fapi`. With a
 * `/` kept, the prefix granted to GitLab's `group/web` (`…/group/web/*`) would also cover a project
 * `group/web/sub` of a subgroup named `web`; as one segment, no repository's prefix contains another's.
 */
export interface RepositoryRef {
  provider: Provider;
  /** `owner/name` as the push names it (GitLab: the full namespace path). */
  repository: string;
}

/** One run (execution) of one repository. */
export interface RunRef extends RepositoryRef {
  /** The execution name: `[A-Za-z0-9_-]`, at most 80 characters. */
  run: string;
}

const runName = /^[A-Za-z0-9_-]{1,80}$/;
const providerName = /^[a-z]+$/;

/**
 * The repository as one S3 key segment: lowercased (every provider treats repository paths
 * case-insensitively, so `Acme/API` and `acme/api` are the same repository and get the same
 * prefix), then every byte outside `[a-z0-9._-]` percent-encoded as `%XX` (so `/` is `%2F` and
 * IAM's wildcards `*` and `?` can never appear), and a leading `.` as `%2E` (never `.` or `..`).
 * Throws on an empty name or an empty path part (`acme/`, `/api`, `a//b`).
 */
export function repositorySegment(repository: string): string {
  const lower = repository.toLowerCase();
  if (lower.split('/').some((part) => part === '')) {
    throw new Error(`repository ${JSON.stringify(repository)}: expected owner/name without empty parts`);
  }
  let encoded = '';
  for (const byte of Buffer.from(lower, 'utf8')) {
    const char = String.fromCharCode(byte);
    encoded += /[a-z0-9._-]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded.startsWith('.') ? `%2E${encoded.slice(1)}` : encoded;
}

function repositoryPath(ref: RepositoryRef): string {
  if (!providerName.test(ref.provider))
    throw new Error(`provider ${JSON.stringify(ref.provider)}: expected a provider name`);
  return `${ref.provider}/${repositorySegment(ref.repository)}/`;
}

/** `runs/<provider>/<repository>/`: every run of one repository (what its task roles may touch). */
export function repositoryRunsPrefix(ref: RepositoryRef): string {
  return `runs/${repositoryPath(ref)}`;
}

/** `caches/<provider>/<repository>/`: every cache scope of one repository. */
export function repositoryCachesPrefix(ref: RepositoryRef): string {
  return `caches/${repositoryPath(ref)}`;
}

/** `runs/<provider>/<repository>/<run>/`. Throws on a run name that is not an execution name. */
export function runPrefix(ref: RunRef): string {
  if (!runName.test(ref.run)) {
    throw new Error(`run ${JSON.stringify(ref.run)}: expected an execution name ([A-Za-z0-9_-], at most 80)`);
  }
  return `${repositoryRunsPrefix(ref)}${ref.run}/`;
}

/** The commit's files as a gzipped tarball rooted at the repository root (FetchSource). */
export function sourceKey(ref: RunRef): string {
  return `${runPrefix(ref)}source.tar.gz`;
}

/** The validated stepline.yml as JSON, defaults filled in (FetchSource). */
export function configKey(ref: RunRef): string {
  return `${runPrefix(ref)}stepline.json`;
}

/** One stage's log, rewritten while the stage runs. */
export function logKey(ref: RunRef, stage: string): string {
  return `${runPrefix(ref)}logs/${stage}.log`;
}

/** The Build stage's artifacts, unpacked by Test and PublishImage. */
export function artifactsKey(ref: RunRef): string {
  return `${runPrefix(ref)}artifacts/build.tar.gz`;
}

/**
 * A cache scope: `branch/<name>` or `tag/<name>`. A run reads its own scope and then the default
 * branch's, and writes only its own, so a push to one branch cannot plant a cache in another.
 * The name is percent-encoded (`feature/x` → `feature%2Fx`): one key segment, never `.` or `..`.
 */
export function cacheScope(refType: 'branch' | 'tag', refName: string): string {
  return `${refType}/${encodeURIComponent(refName).replace(/^\./, '%2E')}`;
}

/** A scope as a person reads it in the log: `branch main`, `tag v1.2.0`. */
export function describeScope(scope: string): string {
  const slash = scope.indexOf('/');
  return `${scope.slice(0, slash)} ${decodeURIComponent(scope.slice(slash + 1))}`;
}

/** `caches/<provider>/<repository>/<scope>/<stage>/<key>.tar.gz`, `scope` from {@link cacheScope}. */
export function cacheKey(ref: RepositoryRef, scope: string, stage: string, key: string): string {
  return `${repositoryCachesPrefix(ref)}${scope}/${stage}/${key}.tar.gz`;
}
