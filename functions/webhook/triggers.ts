import { globMatcher } from '#shared/glob.ts';
import type { PushEvent } from '#shared/push-event.ts';
import { matchesRepository, type TriggerRules, type WebhookRepository } from '#shared/webhook-config.ts';

const glob = (pattern: string) => globMatcher(pattern);

/** The configured repositories whose `name` covers `fullName`, in configuration order. */
export function repositoriesFor<R extends Pick<WebhookRepository, 'name'>>(
  repositories: readonly R[],
  fullName: string,
): R[] {
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
