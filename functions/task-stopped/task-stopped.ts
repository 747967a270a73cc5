import type { Logger } from '@aws-lambda-powertools/logger';
import { SendTaskFailureCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { RunnerExitedError, TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { fitCause } from '#shared/payload-budget.ts';

const Environment = z.array(z.object({ name: z.string(), value: z.string().optional() }));

/**
 * EventBridge's "ECS Task State Change" event, as much of it as is read. The detail mirrors
 * DescribeTasks' task, overrides included: the task token Step Functions put into the runner's
 * environment is there, so nothing has to store it (a token is a secret: it is never logged).
 */
export const TaskStateChange = z.looseObject({
  source: z.literal('aws.ecs'),
  'detail-type': z.literal('ECS Task State Change'),
  detail: z.looseObject({
    taskArn: z.string().min(1),
    lastStatus: z.string(),
    stopCode: z.string().optional(),
    stoppedReason: z.string().optional(),
    overrides: z
      .looseObject({
        containerOverrides: z
          .array(z.looseObject({ name: z.string().optional(), environment: Environment.optional() }))
          .optional(),
      })
      .optional(),
    containers: z
      .array(
        z.looseObject({
          name: z.string(),
          exitCode: z.number().int().optional(),
          reason: z.string().optional(),
        }),
      )
      .optional(),
  }),
});
export type TaskStateChange = z.infer<typeof TaskStateChange>;

export interface TaskStoppedDeps {
  sfn: Pick<SFNClient, 'send'>;
  /** The runner's container name in both task definitions. */
  containerName: string;
  logger: Pick<Logger, 'info' | 'warn'>;
}

export type TaskStoppedOutcome =
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'reported'; cause: string }
  | { outcome: 'already-closed'; cause: string };

/** SendTaskFailure's answers when the state no longer waits for this token (the runner reported first). */
const closedTaskErrors = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

/**
 * Fails the waiting runner state (Build, Test, PublishImage) of a runner task that stopped without
 * reporting: an out-of-memory kill, a crash, an image that could not be pulled, a Spot reclaim.
 * Without this, Step Functions would learn of it only from `HeartbeatSeconds`, with no cause.
 *
 * A runner that exited 0 has delivered its result (success or failure) and is left alone. Any other
 * stop is reported; when the runner had reported after all, Step Functions refuses the token and
 * nothing changes.
 * @throws TaskInputError for an event that is not an ECS task state change
 */
export async function reportStoppedTask(event: unknown, deps: TaskStoppedDeps): Promise<TaskStoppedOutcome> {
  const parsed = TaskStateChange.safeParse(event);
  if (!parsed.success) {
    throw new TaskInputError(`not an ECS task state change:\n${formatZodError(parsed.error).join('\n')}`);
  }
  const { detail } = parsed.data;
  if (detail.lastStatus !== 'STOPPED') return { outcome: 'ignored', reason: `task is ${detail.lastStatus}` };
  const override = detail.overrides?.containerOverrides?.find((o) =>
    o.environment?.some((v) => v.name === 'STEPLINE_TASK_TOKEN' && v.value),
  );
  const env = new Map((override?.environment ?? []).map((v) => [v.name, v.value ?? '']));
  const taskToken = env.get('STEPLINE_TASK_TOKEN');
  if (!taskToken) return { outcome: 'ignored', reason: 'not a runner task (no task token)' };
  const container =
    detail.containers?.find((c) => c.name === (override?.name ?? deps.containerName)) ??
    detail.containers?.[0];
  if (container?.exitCode === 0) {
    return { outcome: 'ignored', reason: 'the runner exited 0 after reporting its result' };
  }

  const stage = env.get('STEPLINE_STAGE') || 'runner';
  const cause = fitCause(describeStoppedTask(stage, detail, container));
  const context = { taskArn: detail.taskArn, run: env.get('STEPLINE_RUN'), stage };
  try {
    await deps.sfn.send(
      new SendTaskFailureCommand({ taskToken, error: new RunnerExitedError('').name, cause }),
    );
  } catch (error) {
    if (error instanceof Error && closedTaskErrors.has(error.name)) {
      deps.logger.info('the runner task stopped after its state had closed', {
        ...context,
        error: error.name,
      });
      return { outcome: 'already-closed', cause };
    }
    throw error;
  }
  deps.logger.warn('failed a runner state whose task stopped without reporting', { ...context, cause });
  return { outcome: 'reported', cause };
}

/**
 * One line a person can act on: what stopped and why, in ECS's words, with a hint for the causes
 * that have an obvious fix.
 */
export function describeStoppedTask(
  stage: string,
  detail: Pick<TaskStateChange['detail'], 'taskArn' | 'stopCode' | 'stoppedReason'>,
  container: { name: string; exitCode?: number | undefined; reason?: string | undefined } | undefined,
): string {
  const parts: string[] = [];
  if (container?.reason) parts.push(container.reason);
  if (detail.stoppedReason && detail.stoppedReason !== container?.reason) parts.push(detail.stoppedReason);
  const exit =
    container?.exitCode === undefined
      ? 'no exit code (the container never ran or was not waited for)'
      : `exit code ${container.exitCode}${container.exitCode === 137 ? ' (SIGKILL)' : ''}`;
  const why = parts.length > 0 ? parts.join('; ') : 'ECS gave no reason';
  const oom = /OutOfMemory|memory/i.test(why) || container?.exitCode === 137;
  const hint = oom
    ? " The container ran out of memory: raise the stack's runnerMemoryMiB (publisherMemoryMiB for PublishImage) or make the commands use less."
    : detail.stopCode === 'TaskFailedToStart'
      ? " The task never started: check the image, the subnets' route to ECR and S3, and Fargate capacity."
      : '';
  return `the ${stage} runner task stopped before reporting a result: ${why} (${exit}; stop code ${detail.stopCode ?? 'unknown'}; task ${detail.taskArn}).${hint}`;
}

/**
 * The local stand-in's counterpart: why a runner process ended without reporting. A process killed
 * by a signal says which; SIGKILL is what the kernel's out-of-memory killer sends.
 */
export function describeRunnerExit(
  stateName: string,
  exit: { code: number | null; signal: string | null },
  logPath: string,
): string {
  const how =
    exit.signal === 'SIGKILL'
      ? 'was killed by SIGKILL (the out-of-memory killer sends it, as does a stop past its grace period)'
      : exit.signal
        ? `was killed by ${exit.signal}`
        : `exited with code ${exit.code ?? 'unknown'}`;
  return `the runner process for ${stateName} ${how} before reporting a result; see ${logPath}`;
}
