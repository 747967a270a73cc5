import type { Logger } from '@aws-lambda-powertools/logger';
import { SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import {
  type DeploymentConfig,
  type ExecutionMode,
  executionModeFor,
  findRepositoryConfig,
} from '#shared/deployment-config.ts';
import { LaneContentionError, TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { PushEvent } from '#shared/push-event.ts';
import type { LaneEntry, LaneStore, NewerExecution } from './lane-store.ts';

export type { LaneEntry, LaneStore, NewerExecution, StoredLane } from './lane-store.ts';

/** The run as `PushReceived` names it. */
const Run = z.object({
  name: z.string().min(1),
  executionArn: z.string().min(1),
  startedAt: z.string().min(1),
});

/** The parts of the push a lane reads (the state passes the whole push; the rest is not looked at). */
const LanePush = z.looseObject({
  provider: PushEvent.shape.provider,
  repository: z.looseObject({ fullName: z.string().min(1) }),
  ref: z.string().min(1),
  refType: PushEvent.shape.refType,
  refName: z.string().min(1),
  after: z.string().min(1),
});
type LanePush = z.infer<typeof LanePush>;

const Common = { push: LanePush, run: Run };

/** The checkpoints the state machine asks at; `production` is the last deployment. */
export const Checkpoint = z.enum(['staging', 'approval', 'production']);
export type Checkpoint = z.infer<typeof Checkpoint>;

/** What the lane states pass (`EnterLane`, `WaitInLane`'s Payload, `CheckLaneBefore*`, `LeaveLane*`). */
export const LaneInput = z.discriminatedUnion('action', [
  z.object({ action: z.literal('enter'), ...Common }),
  z.object({ action: z.literal('wait'), taskToken: z.string().min(1), ...Common }),
  z.object({ action: z.literal('check'), checkpoint: Checkpoint, ...Common }),
  z.object({ action: z.literal('leave'), ...Common }),
  /** An execution ended (EventBridge on AWS, the engine locally): leave whatever lane it is in. */
  z.object({
    action: z.literal('release'),
    executionArn: z.string().min(1),
    /** The status it reports: only an end (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) releases; RUNNING (a redrive) does not. */
    status: z.string().min(1).optional(),
    /** When it ended (the event's `time`): a release older than the run's return to its lane is stale. */
    endedAt: z
      .string()
      .refine((value) => !Number.isNaN(Date.parse(value)), 'is not a date')
      .optional(),
  }),
]);
export type LaneInput = z.infer<typeof LaneInput>;

/** `EnterLane`'s result, at `$.lane`. */
export interface Entered {
  mode: ExecutionMode;
  /** `queued` and executions ahead: go through `WaitInLane`. */
  wait: boolean;
  /**
   * The older executions this one supersedes (they end at their next checkpoint), at most
   * {@link maxNamed} of them: the result stays within its payload budget.
   */
  supersedes: string[];
}

/** Names an `enter` result lists (80 characters each at most): `$.lane` keeps within payloadBudget.lane. */
export const maxNamed = 5;

/** A checkpoint's result, at `$.lane`. */
export interface Checked {
  superseded: boolean;
  supersededBy?: NewerExecution;
}

export interface LaneDeps {
  store: LaneStore;
  /** Answers `WaitInLane` tokens (SendTaskSuccess). */
  sfn: Pick<SFNClient, 'send'>;
  config: DeploymentConfig;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** @default Date.now */
  now?: () => number;
}

/** No execution outlives the state machine's `TimeoutSeconds` (8 days); a day more, and an entry is stale. */
const entryLifetimeSeconds = 9 * 86400;
/** The statuses of a "Step Functions Execution Status Change" that end an execution. */
const endStatuses = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
/** Conditional writes lost in a row before giving up (the state machine retries LaneContentionError). */
const maxAttempts = 25;

/** The lane of a push: one per provider, repository (case-insensitive, as providers treat it) and ref. */
export function laneKey(push: Pick<LanePush, 'provider' | 'repository' | 'ref'>): string {
  return `${push.provider}:${push.repository.fullName.toLowerCase()}:${push.ref}`;
}

/**
 * The execution-mode lane (`functions/lane/handler.ts` on AWS, the Lambda stand-in locally). One
 * function for every lane state of the pipeline:
 *
 * - `enter` (after FetchSource): joins the push's lane. `superseded`: marks every older execution of
 *   the lane that has not committed as superseded by this one. `queued`: says whether to wait.
 * - `wait` (`WaitInLane`, `.waitForTaskToken`): keeps the token; answered at once when nothing is
 *   ahead any more, else by the `leave` of the last execution ahead.
 * - `check` (before DeployStaging, RequestApproval and DeployProduction): whether a newer execution
 *   superseded this one; at `production`, the last deployment, it commits the execution instead.
 * - `leave` (at the end of every path) and `release` (an execution that ended any other way): leaves
 *   the lane and wakes the next queued execution. Both are idempotent.
 */
export async function lane(
  event: unknown,
  deps: LaneDeps,
): Promise<Entered | Checked | Record<string, unknown>> {
  const parsed = LaneInput.safeParse(event);
  if (!parsed.success)
    throw new TaskInputError(`lane input is invalid: ${formatZodError(parsed.error).join('; ')}`);
  const input = parsed.data;
  switch (input.action) {
    case 'enter':
      return enter(input, deps);
    case 'wait':
      return wait(input, deps);
    case 'check':
      return check(input, deps);
    case 'leave':
      return leave(laneKey(input.push), input.run.executionArn, deps);
    case 'release': {
      // A redriven execution's status change says RUNNING again: it is back, not gone.
      if (input.status !== undefined && !endStatuses.has(input.status)) return { left: false };
      const key = await deps.store.laneOf(input.executionArn);
      if (key === undefined) return { left: false };
      return leave(key, input.executionArn, deps, input.endedAt);
    }
  }
}

type Input<A extends LaneInput['action']> = Extract<LaneInput, { action: A }>;

async function enter(input: Input<'enter'>, deps: LaneDeps): Promise<Entered> {
  const { push, run } = input;
  const mode = modeOf(push, deps);
  if (mode === 'parallel') return { mode, wait: false, supersedes: [] };
  const key = laneKey(push);
  const now = nowSeconds(deps);
  await deps.store.rememberLane(run.executionArn, key, now + entryLifetimeSeconds);
  return update(key, deps, (entries) => {
    const { mine, supersedes } = join(entries, input, mode, now);
    const wait = mine.mode === 'queued' && !mine.woken && entries.indexOf(mine) > 0;
    return { entries, result: { mode: mine.mode, wait, supersedes: supersedes.slice(-maxNamed) } };
  });
}

/** The push's execution mode, from the deployment configuration. */
function modeOf(push: LanePush, deps: LaneDeps): ExecutionMode {
  return executionModeFor(findRepositoryConfig(deps.config, push.provider, push.repository.fullName), push);
}

/**
 * Puts the run in `entries` (at the end) unless it is there already. `superseded`: marks every older
 * run of the lane that has not committed as superseded by it, and it by the newest later push in the
 * lane (one whose FetchSource was quicker, or that entered while this one was out of the lane).
 */
function join(
  entries: LaneEntry[],
  { push, run }: { push: LanePush; run: z.infer<typeof Run> },
  mode: Exclude<ExecutionMode, 'parallel'>,
  now: number,
): { mine: LaneEntry; supersedes: string[] } {
  const me: NewerExecution = { execution: run.name, executionArn: run.executionArn, commit: push.after };
  let mine = entries.find((e) => e.executionArn === run.executionArn);
  if (!mine) {
    mine = { ...me, startedAt: run.startedAt, mode, expiresAt: now + entryLifetimeSeconds };
    entries.push(mine);
  }
  const supersedes: string[] = [];
  if (mine.mode === 'superseded') {
    for (const other of entries) {
      if (other === mine || other.committed || !isNewer(mine, other)) continue;
      if (other.supersededBy && isNewerThan(other.supersededBy, entries, mine)) continue;
      other.supersededBy = me;
      supersedes.push(other.execution);
    }
    const newest = newestLaterThan(mine, entries, 'superseded');
    if (newest && !mine.committed) mine.supersededBy = newest;
  }
  return { mine, supersedes };
}

/** The newest execution of the lane (in `mode`, or any) that is a later push than `than`. */
function newestLaterThan(
  than: Pick<LaneEntry, 'startedAt' | 'execution'>,
  entries: LaneEntry[],
  mode?: LaneEntry['mode'],
): NewerExecution | undefined {
  const newest = entries
    .filter((e) => (mode === undefined || e.mode === mode) && isNewer(e, than))
    .sort(byAge)
    .at(-1);
  return newest && { execution: newest.execution, executionArn: newest.executionArn, commit: newest.commit };
}

async function wait(input: Input<'wait'>, deps: LaneDeps): Promise<Record<string, unknown>> {
  const key = laneKey(input.push);
  const mode = modeOf(input.push, deps);
  const now = nowSeconds(deps);
  const absent = !(await deps.store.read(key)).entries.some((e) => e.executionArn === input.run.executionArn);
  // Out of the lane at WaitInLane: a redriven run (its lane was released when it stopped). It joins
  // again at the back and waits behind whatever is in the lane now.
  if (absent && mode !== 'parallel')
    await deps.store.rememberLane(input.run.executionArn, key, now + entryLifetimeSeconds);
  const head = await update(key, deps, (entries) => {
    let mine = entries.find((e) => e.executionArn === input.run.executionArn);
    if (!mine && mode !== 'parallel') {
      mine = join(entries, input, mode, now).mine;
      mine.rejoinedAt = now;
    }
    if (mine) mine.taskToken = input.taskToken;
    return { entries, result: mine ? undefined : input.taskToken };
  });
  if (absent && mode !== 'parallel')
    deps.logger.info('a redriven execution joined its lane again', { lane: key, execution: input.run.name });
  // Parallel mode: nothing to wait for.
  if (head !== undefined) await answer(head, deps);
  await wakeHead(key, deps);
  return { waiting: true };
}

async function check(input: Input<'check'>, deps: LaneDeps): Promise<Checked> {
  const key = laneKey(input.push);
  const current = await deps.store.read(key);
  const mine = current.entries.find((e) => e.executionArn === input.run.executionArn);
  if (!mine) return reenter(input, deps);
  if (mine.supersededBy) return { superseded: true, supersededBy: mine.supersededBy };
  if (input.checkpoint !== 'production' || mine.committed) return { superseded: false };
  return update<Checked>(key, deps, (entries) => {
    const entry = entries.find((e) => e.executionArn === input.run.executionArn);
    if (!entry) return { entries, result: { superseded: false } };
    if (entry.supersededBy)
      return { entries, result: { superseded: true, supersededBy: entry.supersededBy } };
    entry.committed = true;
    return { entries, result: { superseded: false } };
  });
}

/**
 * A run that is not in its lane at a checkpoint. Every run that is not in parallel mode entered at
 * EnterLane; one that is out of the lane now left it when it failed or was stopped (LeaveLaneAfterFailure,
 * or the release of its end) and was redriven since. It joins the lane again, so a push cannot pass it
 * unseen:
 *
 * - `superseded`: as EnterLane would: superseded at once by the newest later push in the lane, else it is
 *   the lane's entry again (later pushes supersede it, it supersedes older uncommitted ones), and it
 *   commits at `production`.
 * - `queued`: a later push in the lane (running or waiting) has taken its place in the queue: it ends as
 *   superseded by the newest of them, without rejoining (a checkpoint cannot wait). Else it joins at the
 *   back and holds the queue until it leaves.
 * - `parallel`: it has no lane.
 */
async function reenter(input: Input<'check'>, deps: LaneDeps): Promise<Checked> {
  const mode = modeOf(input.push, deps);
  if (mode === 'parallel') return { superseded: false };
  const key = laneKey(input.push);
  const now = nowSeconds(deps);
  await deps.store.rememberLane(input.run.executionArn, key, now + entryLifetimeSeconds);
  const result = await update<Checked>(key, deps, (entries) => {
    let mine = entries.find((e) => e.executionArn === input.run.executionArn);
    if (!mine && mode === 'queued') {
      const newest = newestLaterThan({ execution: input.run.name, startedAt: input.run.startedAt }, entries);
      if (newest) return { entries, result: { superseded: true, supersededBy: newest } };
    }
    if (!mine) {
      mine = join(entries, input, mode, now).mine;
      mine.rejoinedAt = now;
    }
    if (mine.supersededBy) return { entries, result: { superseded: true, supersededBy: mine.supersededBy } };
    if (input.checkpoint === 'production') mine.committed = true;
    return { entries, result: { superseded: false } };
  });
  deps.logger.info('a redriven execution joined its lane again', {
    lane: key,
    execution: input.run.name,
    checkpoint: input.checkpoint,
    superseded: result.superseded,
  });
  return result;
}

/**
 * Takes the execution out of lane `key`. `endedAt` (a release): the end it reports; an entry that
 * joined again after that end (a redriven run, see {@link reenter}) stays, since the end is an earlier
 * attempt's (EventBridge may deliver it late, after retries).
 */
async function leave(
  key: string,
  executionArn: string,
  deps: LaneDeps,
  endedAt?: string,
): Promise<Record<string, unknown>> {
  const ended = endedAt === undefined ? undefined : Math.floor(Date.parse(endedAt) / 1000);
  const outcome = await update<boolean | 'rejoined'>(key, deps, (entries) => {
    const index = entries.findIndex((e) => e.executionArn === executionArn);
    const entry = entries[index];
    if (entry?.rejoinedAt !== undefined && ended !== undefined && ended < entry.rejoinedAt)
      return { entries, result: 'rejoined' };
    if (index >= 0) entries.splice(index, 1);
    return { entries, result: index >= 0 };
  });
  if (outcome === 'rejoined') {
    deps.logger.info('a release older than the execution’s return to its lane was ignored', {
      lane: key,
      executionArn,
      endedAt,
    });
    return { left: false, rejoined: true };
  }
  const left = outcome;
  await deps.store.forgetLane(executionArn);
  const woke = await wakeHead(key, deps);
  return { left, ...(woke ? { woke } : {}) };
}

/**
 * Answers the `WaitInLane` token of the lane's first execution if it waits. Idempotent: a token
 * answered twice (two leaves racing) gets `TaskTimedOut` the second time, which means done.
 */
async function wakeHead(key: string, deps: LaneDeps): Promise<string | undefined> {
  const { entries } = await deps.store.read(key);
  const head = entries[0];
  if (head?.mode !== 'queued' || head.woken || head.taskToken === undefined) return undefined;
  await answer(head.taskToken, deps);
  await update(key, deps, (now) => {
    const entry = now.find((e) => e.executionArn === head.executionArn);
    if (entry) entry.woken = true;
    return { entries: now, result: undefined };
  });
  deps.logger.info('woke the next queued execution', { lane: key, execution: head.execution });
  return head.execution;
}

/** SendTaskSuccess; a token that no longer waits (answered, or its execution ended) is not an error. */
async function answer(taskToken: string, deps: LaneDeps): Promise<void> {
  try {
    await deps.sfn.send(
      new SendTaskSuccessCommand({ taskToken, output: JSON.stringify({ mode: 'queued', waited: true }) }),
    );
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'TaskTimedOut' || name === 'TaskDoesNotExist' || name === 'InvalidToken') {
      deps.logger.warn('a queued execution no longer waits for its token', { error: name });
      return;
    }
    throw error;
  }
}

/**
 * Reads the lane, lets `change` edit its entries (expired ones removed first), and writes them on
 * condition that nobody wrote in between; on a lost race, reads again and retries.
 */
async function update<T>(
  key: string,
  deps: LaneDeps,
  change: (entries: LaneEntry[]) => { entries: LaneEntry[]; result: T },
): Promise<T> {
  const now = nowSeconds(deps);
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await deps.store.read(key);
    const before = JSON.stringify(current.entries);
    const { entries, result } = change(structuredClone(current.entries).filter((e) => e.expiresAt > now));
    if (JSON.stringify(entries) === before) return result;
    if (await deps.store.write(key, entries, current.version)) return result;
  }
  throw new LaneContentionError(`lane "${key}" changed under ${maxAttempts} attempts in a row to update it`);
}

const nowSeconds = (deps: LaneDeps) => Math.floor((deps.now ?? Date.now)() / 1000);

/** Whether `a` is a later push than `b`: started later; on a tie, the greater name. */
function isNewer(
  a: Pick<LaneEntry, 'startedAt' | 'execution'>,
  b: Pick<LaneEntry, 'startedAt' | 'execution'>,
): boolean {
  const ta = Date.parse(a.startedAt);
  const tb = Date.parse(b.startedAt);
  return ta !== tb ? ta > tb : a.execution > b.execution;
}

/** Whether the execution `named` (still in the lane) is newer than `than`. */
function isNewerThan(named: NewerExecution, entries: LaneEntry[], than: LaneEntry): boolean {
  const entry = entries.find((e) => e.executionArn === named.executionArn);
  return entry !== undefined && isNewer(entry, than);
}

const byAge = (a: LaneEntry, b: LaneEntry) => (isNewer(a, b) ? 1 : isNewer(b, a) ? -1 : 0);
