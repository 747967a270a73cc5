import picomatch from 'picomatch';
import { matchesRepository, type RepositoryConfig, type TriggerRules } from '#shared/deployment-config.ts';
import type { PushEvent } from '#shared/push-event.ts';

const matchers = new Map<string, (input: string) => boolean>();

function glob(pattern: string): (input: string) => boolean {
  let matcher = matchers.get(pattern);
  if (!matcher) {
    matcher = picomatch(pattern, { dot: true });
    matchers.set(pattern, matcher);
  }
  return matcher;
}

/** The configured repositories whose `name` covers `fullName`, in configuration order. */
export function repositoriesFor(
  repositories: readonly RepositoryConfig[],
  fullName: string,
): RepositoryConfig[] {
  return repositories.filter((repository) => matchesRepository(repository.name, fullName));
}

const SKIP_CI = /\[(?:skip ci|ci skip)\]/i;

/**
 * Why the deployment's trigger rules do not start a run for this push, or `undefined` when they do.
 * `changedPaths` is `undefined` when the provider did not list them; path rules then do not apply.
 */
export function whyNotTriggered(
  rules: TriggerRules,
  push: PushEvent,
  changedPaths: readonly string[] | undefined,
): string | undefined {
  const globs = push.refType === 'branch' ? rules.branches : rules.tags;
  if (!globs.some((pattern) => glob(pattern)(push.refName)))
    return `${push.refType} "${push.refName}" does not match the ${push.refType === 'branch' ? 'branches' : 'tags'} that start runs`;
  if (changedPaths !== undefined && changedPaths.length > 0) {
    const included = changedPaths.some(
      (path) =>
        rules.paths.include.some((pattern) => glob(pattern)(path)) &&
        !rules.paths.exclude.some((pattern) => glob(pattern)(path)),
    );
    if (!included) return 'no changed path matches the path rules';
  }
  if (SKIP_CI.test(push.headCommit.message)) return 'head commit message asks to skip CI';
  return undefined;
}
