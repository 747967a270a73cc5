import * as z from 'zod';
import { PublishedImage } from '#shared/published-image.ts';
import { Stage } from './stage-input.ts';

export const CommandResult = z.object({
  command: z.string(),
  exitCode: z.number().int(),
  durationMs: z.number().nonnegative(),
});
export type CommandResult = z.infer<typeof CommandResult>;

export const TestFailure = z.object({
  suite: z.string(),
  name: z.string(),
  kind: z.enum(['failure', 'error']),
  message: z.string(),
});

/**
 * What a runner task returns with `SendTaskSuccess`; the state machine keeps it at `$.build`,
 * `$.test` or `$.publish`. Small on purpose: Step Functions caps a state's output at 256 KiB, and
 * `fitStageResult` (result-budget.ts) cuts it to its stage's budget (#shared/payload-budget.ts).
 */
export const StageResult = z.object({
  stage: Stage,
  commit: z.string(),
  durationMs: z.number().nonnegative(),
  /** Time spent inside the user's commands. */
  commandsMs: z.number().nonnegative(),
  commands: z.array(CommandResult),
  /** Commands left out of `commands` to keep the result in its payload budget (see result-budget.ts). */
  commandsOmitted: z.number().int().positive().optional(),
  /** S3 key of the full stage log. */
  logKey: z.string(),
  cache: z
    .object({
      key: z.string(),
      /** The run's own scope (`branch/<name>` or `tag/<name>`), the only one it saves to. */
      scope: z.string(),
      restored: z.boolean(),
      /** The scope the archive came from: the run's own or the default branch's. */
      restoredFrom: z.string().optional(),
      saved: z.boolean(),
    })
    .optional(),
  artifacts: z.object({ key: z.string(), files: z.number().int(), bytes: z.number().int() }).optional(),
  tests: z
    .object({
      total: z.number().int(),
      passed: z.number().int(),
      failed: z.number().int(),
      errors: z.number().int(),
      skipped: z.number().int(),
      /** Report files read; 0 with `note` when `test.reports` matched nothing. */
      reports: z.number().int(),
      failures: z.array(TestFailure),
      note: z.string().optional(),
    })
    .optional(),
  /** The publish stage's image, always referred to by digest afterwards. */
  image: PublishedImage.optional(),
});
export type StageResult = z.infer<typeof StageResult>;
