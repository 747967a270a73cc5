import * as z from 'zod';
import { Provider } from '#shared/push-event.ts';

export const stages = ['build', 'test', 'publish'] as const;
export const Stage = z.enum(stages);
export type Stage = z.infer<typeof Stage>;

export const RefType = z.enum(['branch', 'tag']);
export type RefType = z.infer<typeof RefType>;

/** What one runner task works on; the state machine passes it as container-override environment. */
export const StageInput = z.strictObject({
  /** The `.waitForTaskToken` token. Secret: never logged, never given to the user's commands. */
  taskToken: z.string().min(1),
  stage: Stage,
  /** The execution name; with provider and repository it names the run's S3 prefix (#shared/object-keys.ts). */
  run: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'expected an execution name ([A-Za-z0-9_-], at most 80)'),
  /** The push's provider: part of every key, so two providers' `acme/api` never share objects. */
  provider: Provider,
  /** `owner/name`; it names the run's and the caches' prefixes. */
  repository: z.string().min(1),
  commit: z.string().regex(/^[0-9a-f]{7,64}$/, 'expected a hex commit SHA'),
  /** Whether the push moved a branch or a tag; with `refName` it names the run's cache scope. */
  refType: RefType,
  /** Branch or tag name without the `refs/...` prefix. */
  refName: z.string().min(1),
  /**
   * The repository's default branch, whose cache a run may restore when its own scope has none,
   * as the provider's signed push payload names it. Empty when the provider does not say: a run
   * then restores only its own scope (see docs/runner.md).
   */
  defaultBranch: z.string(),
  /** S3 key of the source tarball (repository root at the archive root). */
  sourceKey: z.string().min(1),
  /** S3 key of the parsed stepline.yml as JSON. */
  configKey: z.string().min(1),
});
export type StageInput = z.infer<typeof StageInput>;
