import { globMatcher, globProblem } from './glob.ts';
import { Provider } from './provider.ts';
import * as z from './zod-mini.ts';

/**
 * The part of the deployment configuration (#shared/deployment-config.ts, which re-exports all of this)
 * that the webhook reads: secrets, trigger rules, repository names. Its own module so that the
 * webhook, the path of every push, builds only these schemas at cold start and not the whole config's.
 */

/**
 * Where a secret's value comes from. On AWS a deployment names Secrets Manager secrets; the
 * local runtime may also take a literal value or an environment variable. Values never appear
 * in logs or in the synthesized template.
 */
export const SecretRef = z.union([
  z.strictObject({ secretName: z.string().check(z.minLength(1)) }),
  z.strictObject({
    env: z.string().check(z.regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name')),
  }),
  z.strictObject({ value: z.string().check(z.minLength(1)) }),
]);
export type SecretRef = z.infer<typeof SecretRef>;

/** A glob of the syntax #shared/glob.ts matches; other syntax is refused with the reason. */
export const Glob = z.string().check(
  z.minLength(1),
  z.superRefine((glob, ctx) => {
    const problem = globProblem(glob);
    if (problem !== undefined) ctx.issues.push({ code: 'custom', message: problem, input: glob });
  }),
);

/**
 * Which pushes start a run. Globs (#shared/glob.ts: picomatch's syntax and matching, dotfiles included)
 * are matched against the branch or tag name, or each changed path.
 */
export const TriggerRules = z.strictObject({
  /** @default ["main"] */
  branches: z._default(z.array(Glob), ['main']),
  /** @default [] (tag pushes do not start runs) */
  tags: z._default(z.array(Glob), []),
  paths: z._default(
    z.strictObject({
      /** A push starts a run only if one changed path matches. @default ["**"] */
      include: z._default(z.array(Glob), ['**']),
      /** Changed paths matching these are ignored. @default [] */
      exclude: z._default(z.array(Glob), []),
    }),
    { include: ['**'], exclude: [] },
  ),
});
export type TriggerRules = z.infer<typeof TriggerRules>;

/** The trigger rules of a repository that sets none. */
export const defaultTriggerRules = (): TriggerRules => TriggerRules.parse({});

/** A repository's `name`: `owner/name`, or locally a glob over it. */
export const RepositoryName = Glob;

/**
 * What the webhook reads of one configured repository, checked as the whole config checks it. The
 * other fields (deploy targets, approvers, …) are left out of the parsed value unread: the CDK app
 * validated the whole config at synth, and each function that reads them validates them itself.
 */
export const WebhookRepository = z.object({
  provider: Provider,
  name: RepositoryName,
  webhookSecret: SecretRef,
  triggers: z._default(TriggerRules, defaultTriggerRules()),
});
export type WebhookRepository = z.infer<typeof WebhookRepository>;

/** What the webhook reads of the deployment configuration. */
export const WebhookConfig = z.object({
  repositories: z.array(WebhookRepository).check(z.minLength(1, 'name at least one repository')),
});
export type WebhookConfig = z.infer<typeof WebhookConfig>;

/**
 * Whether a configured repository `name` covers a pushed repository. The name is a glob
 * (#shared/glob.ts) over `owner/name` (`acme/*`, `acme/**` for GitLab subgroups); a lone `*` means any
 * repository. Case-insensitive, because the providers treat repository paths so; a repository may be
 * named `.github`.
 */
export function matchesRepository(pattern: string, fullName: string): boolean {
  if (pattern === '*') return true;
  return globMatcher(pattern, { nocase: true })(fullName);
}
