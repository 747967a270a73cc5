import { Provider } from './provider.ts';
import * as z from './zod-mini.ts';

// Kept in their own module so that code needing only the provider names does not build the push schemas.
export { Provider, providers } from './provider.ts';

const Sha = z.string().check(
  z.regex(/^[0-9a-f]{7,64}$/, {
    error: (issue) => `expected a hex commit SHA, got ${JSON.stringify(issue.input)}`,
  }),
);

const NonEmpty = z.string().check(z.minLength(1));

export const PushCommit = z.object({
  id: Sha,
  message: z.string(),
  author: z.object({ name: z.string(), email: z.optional(z.string()) }),
  timestamp: z.string(),
  url: z.string(),
  added: z.array(z.string()),
  modified: z.array(z.string()),
  removed: z.array(z.string()),
});
export type PushCommit = z.infer<typeof PushCommit>;

/**
 * One push, whatever the provider. This is the execution input of the pipeline state machine,
 * so it must stay small (Step Functions caps input at 256 KB): commits are capped by the parser.
 */
export const PushEvent = z.object({
  provider: Provider,
  deliveryId: NonEmpty,
  repository: z.object({
    /** `owner/name` (GitLab: the full namespace path). */
    fullName: NonEmpty,
    cloneUrl: NonEmpty,
    /** As the provider's signed payload names it; empty when the provider does not say (Bitbucket). */
    defaultBranch: z.string(),
    htmlUrl: z.optional(z.string()),
  }),
  /** Full ref, e.g. `refs/heads/main` or `refs/tags/v1.2.0`. */
  ref: NonEmpty,
  refType: z.enum(['branch', 'tag']),
  /** Branch or tag name without the `refs/...` prefix. */
  refName: NonEmpty,
  before: z.string(),
  /** The commit to build and report on (for an annotated tag: the commit the tag points to, never the tag object). */
  after: Sha,
  /** For an annotated tag push: the tag object the ref now points to (what the provider's `after` names). */
  tagObject: z.optional(Sha),
  headCommit: PushCommit,
  commits: z.array(PushCommit),
  pusher: z.object({ name: z.string(), email: z.optional(z.string()) }),
});
export type PushEvent = z.infer<typeof PushEvent>;
