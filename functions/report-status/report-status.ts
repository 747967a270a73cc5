import { z } from 'zod';
import { TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { type Provider, PushEvent } from '#shared/push-event.ts';

export { localStatusPublisher, providerStatusPublisher } from './status-publishers.ts';

/** The run as the state machine's `PushReceived` state names it. */
export const RunInfo = z.object({
  name: z.string().min(1),
  executionArn: z.string().min(1),
  startedAt: z.string().min(1),
});
export type RunInfo = z.infer<typeof RunInfo>;

export const CommitState = z.enum(['pending', 'success', 'failure']);
export type CommitState = z.infer<typeof CommitState>;

/** What ReportPending, ReportSuccess and ReportFailure pass (`Parameters`). */
export const ReportStatusInput = z.object({
  status: CommitState,
  push: PushEvent,
  run: RunInfo,
  /** The caught error, as a `Catch` with `ResultPath: "$.failure"` stores it. */
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
});
export type ReportStatusInput = z.infer<typeof ReportStatusInput>;

/** One commit status, whatever the provider. */
export interface CommitStatus {
  provider: Provider;
  /** `owner/name` (GitLab: full project path). */
  repository: string;
  sha: string;
  state: CommitState;
  /** Tells Stepline's status apart from other CI systems' on the same commit. */
  context: 'stepline';
  /** At most {@link maxDescriptionLength} characters. */
  description: string;
  targetUrl: string;
}

/** Publishes a commit status; the run is passed so a local publisher can file it with the run. */
export type StatusPublisher = (status: CommitStatus, run: RunInfo) => Promise<void>;

export interface ReportStatusDeps {
  publish: StatusPublisher;
  /** The link a commit status points at: the execution in the Step Functions console (or locally). */
  executionUrl(run: RunInfo): string;
}

export interface ReportStatusResult {
  state: CommitState;
  description: string;
  targetUrl: string;
}

/** GitHub's limit for a status description; the others allow more. */
export const maxDescriptionLength = 140;

/**
 * ReportPending/ReportSuccess/ReportFailure: tells the git provider how the run of this commit is
 * going. A provider refusal is thrown (ReportFailure/ReportSuccess catch it; the run's outcome stands).
 * @throws TaskInputError, StatusReportError
 */
export async function reportStatus(event: unknown, deps: ReportStatusDeps): Promise<ReportStatusResult> {
  const parsed = ReportStatusInput.safeParse(event);
  if (!parsed.success) {
    throw new TaskInputError(`ReportStatus input is invalid:\n${formatZodError(parsed.error).join('\n')}`);
  }
  const { status, push, run, failure } = parsed.data;
  const description = describeStatus(status, failure);
  const targetUrl = deps.executionUrl(run);
  await deps.publish(
    {
      provider: push.provider,
      repository: push.repository.fullName,
      sha: push.after,
      state: status,
      context: 'stepline',
      description,
      targetUrl,
    },
    run,
  );
  return { state: status, description, targetUrl };
}

/** The one-line description: what is happening, or for a failure the error name and the first line of its cause. */
export function describeStatus(state: CommitState, failure?: ReportStatusInput['failure']): string {
  if (state === 'pending') return 'Stepline is building, testing and deploying this commit';
  if (state === 'success') return 'Built, tested and deployed to production';
  const name = failure?.Error?.trim() || 'Failed';
  const cause = firstLineOfCause(failure?.Cause);
  return truncate(cause ? `${name}: ${cause}` : name);
}

/** Lambda errors arrive as JSON (`{"errorType","errorMessage","trace"}`); task failures as plain text. */
function firstLineOfCause(cause: string | undefined): string {
  if (!cause) return '';
  let text = cause;
  try {
    const json: unknown = JSON.parse(cause);
    if (json && typeof json === 'object' && 'errorMessage' in json && typeof json.errorMessage === 'string') {
      text = json.errorMessage;
    }
  } catch {
    // Not JSON: the cause is the message itself.
  }
  return (
    text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? ''
  );
}

function truncate(text: string): string {
  const chars = [...text];
  return chars.length <= maxDescriptionLength
    ? text
    : `${chars.slice(0, maxDescriptionLength - 1).join('')}…`;
}

/** The execution's page in the Step Functions console. */
export function consoleExecutionUrl(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}
