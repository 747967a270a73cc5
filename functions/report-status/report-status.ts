import * as z from 'zod';
import { TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { PublishedImage } from '#shared/published-image.ts';
import { type Provider, PushEvent } from '#shared/push-event.ts';

/** The run as the state machine's `PushReceived` state names it. */
export const RunInfo = z.object({
  name: z.string().min(1),
  executionArn: z.string().min(1),
  startedAt: z.string().min(1),
});
export type RunInfo = z.infer<typeof RunInfo>;

/** `superseded`: a newer commit already runs, so this one was not rolled out; neither success nor failure. */
export const CommitState = z.enum(['pending', 'success', 'failure', 'superseded']);
export type CommitState = z.infer<typeof CommitState>;

/** The parts of the execution state a status describes; each is there only once its step ran. */
export const RunState = z.looseObject({
  publish: z.looseObject({ image: PublishedImage.optional() }).optional(),
  staging: z.looseObject({ outcome: z.string().optional(), supersededBy: z.string().optional() }).optional(),
  production: z
    .looseObject({ outcome: z.string().optional(), supersededBy: z.string().optional() })
    .optional(),
  approval: z.looseObject({ decision: z.string().optional(), approver: z.string().optional() }).optional(),
  /** The lane checkpoint's answer (functions/lane): the newer push of the branch that took over. */
  lane: z
    .looseObject({
      superseded: z.boolean().optional(),
      supersededBy: z.looseObject({ execution: z.string(), commit: z.string() }).optional(),
    })
    .optional(),
});
export type RunState = z.infer<typeof RunState>;

/**
 * ReportSuccess, ReportFailure and Superseded pass only `{status, "state.$": "$"}`: the push is in
 * the state already, and passing it beside the state too would carry it twice, over Step Functions'
 * 256 KiB for a large push (#shared/payload-budget.ts). Take push, run and failure from there.
 */
function liftFromState(event: unknown): unknown {
  if (!event || typeof event !== 'object' || !('state' in event)) return event;
  const { state } = event as { state: unknown };
  if (!state || typeof state !== 'object') return event;
  const from = state as Record<string, unknown>;
  const lifted: Record<string, unknown> = { ...event };
  for (const key of ['push', 'run', 'failure'] as const)
    if (lifted[key] === undefined && from[key] !== undefined) lifted[key] = from[key];
  return lifted;
}

/** What ReportPending (`{status, push, run}`) and the final reports (`{status, state}`) pass. */
export const ReportStatusInput = z.preprocess(
  liftFromState,
  z.object({
    status: CommitState,
    push: PushEvent,
    run: RunInfo,
    /** The caught error, as a `Catch` with `ResultPath: "$.failure"` stores it. */
    failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
    /** The whole execution state (`"state.$": "$"`): what the run produced so far, for the description. */
    state: RunState.optional(),
  }),
);
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
  const { status, push, run, failure, state } = parsed.data;
  const description = describeStatus(status, failure, state);
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

/**
 * The one-line description: what is happening, or for a failure the error name and the first line
 * of its cause; the image digest once PublishImage made one.
 */
export function describeStatus(
  state: CommitState,
  failure?: ReportStatusInput['failure'],
  run?: RunState,
): string {
  const image = run?.publish?.image ? ` (image ${shortDigest(run.publish.image.digest)})` : '';
  if (state === 'pending') return 'Stepline is building, testing and deploying this commit';
  if (state === 'success') {
    const approver = run?.approval?.approver ? `, approved by ${run.approval.approver}` : '';
    return truncate(`Deployed to production${approver}${image}`);
  }
  if (state === 'superseded') {
    const newerPush = run?.lane?.superseded ? run.lane.supersededBy : undefined;
    if (newerPush)
      return truncate(
        `Superseded by a newer push of this branch: commit ${newerPush.commit.slice(0, 12)}, execution ${newerPush.execution}${image}`,
      );
    const where = run?.production?.outcome === 'Superseded' ? 'production' : 'staging';
    const newer = run?.[where]?.supersededBy;
    return truncate(
      `Superseded: ${where} already runs ${newer ? `newer commit ${newer.slice(0, 12)}` : 'a newer commit'}${image}`,
    );
  }
  const name = failure?.Error?.trim() || 'Failed';
  const cause = firstLineOfCause(failure?.Cause);
  return truncate(`${cause ? `${name}: ${cause}` : name}${image}`, image.length);
}

/** `sha256:0123456789ab`: enough to recognise an image, short enough for a status line. */
function shortDigest(digest: string): string {
  return digest.slice(0, 'sha256:'.length + 12);
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

/** Cuts to the provider's limit; `keepTail` characters at the end (the image digest) are kept whole. */
function truncate(text: string, keepTail = 0): string {
  const chars = [...text];
  if (chars.length <= maxDescriptionLength) return text;
  const tail = chars.slice(chars.length - keepTail);
  return `${chars.slice(0, maxDescriptionLength - 1 - tail.length).join('')}…${tail.join('')}`;
}

/**
 * The execution's page in the local web console (`stepline serve`'s, console/src/main.ts routes
 * `/executions/<name>`). Only the console's origin and path are kept: a `?token=` given by mistake
 * never ends up in a status or an email.
 */
export function localConsoleExecutionUrl(consoleUrl: string, executionName: string): string {
  const base = new URL(consoleUrl);
  const path = base.pathname.replace(/\/+$/, '');
  return `${base.origin}${path}/executions/${encodeURIComponent(executionName)}`;
}

/**
 * Where a status of the local runtime points: the execution's page of the local console when the
 * runtime serves one, else the command that shows it.
 */
export function localExecutionUrl(executionName: string, consoleUrl?: string): string {
  return consoleUrl
    ? localConsoleExecutionUrl(consoleUrl, executionName)
    : `stepline executions show ${executionName}`;
}

/** The execution's page in the Step Functions console. */
export function consoleExecutionUrl(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}
