import { z } from 'zod';

export const providers = ['github', 'gitlab', 'gitea', 'bitbucket'] as const;
export const Provider = z.enum(providers);
export type Provider = z.infer<typeof Provider>;

const Sha = z.string().regex(/^[0-9a-f]{7,64}$/, {
  error: (issue) => `expected a hex commit SHA, got ${JSON.stringify(issue.input)}`,
});

export const PushCommit = z.object({
  id: Sha,
  message: z.string(),
  author: z.object({ name: z.string(), email: z.string().optional() }),
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
  deliveryId: z.string().min(1),
  repository: z.object({
    /** `owner/name` (GitLab: the full namespace path). */
    fullName: z.string().min(1),
    cloneUrl: z.string().min(1),
    /** As the provider's signed payload names it; empty when the provider does not say (Bitbucket). */
    defaultBranch: z.string(),
    htmlUrl: z.string().optional(),
  }),
  /** Full ref, e.g. `refs/heads/main` or `refs/tags/v1.2.0`. */
  ref: z.string().min(1),
  refType: z.enum(['branch', 'tag']),
  /** Branch or tag name without the `refs/...` prefix. */
  refName: z.string().min(1),
  before: z.string(),
  /** The commit to build and report on (for an annotated tag: the commit the tag points to, never the tag object). */
  after: Sha,
  /** For an annotated tag push: the tag object the ref now points to (what the provider's `after` names). */
  tagObject: Sha.optional(),
  headCommit: PushCommit,
  commits: z.array(PushCommit),
  pusher: z.object({ name: z.string(), email: z.string().optional() }),
});
export type PushEvent = z.infer<typeof PushEvent>;
