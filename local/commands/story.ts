import type { LocalHistoryEvent } from '#local/sfn/store.ts';
import { printable } from './terminal.ts';

/** One state's visit, as an execution's history tells it. */
export interface StateVisit {
  name: string;
  type: string;
  enteredAt: Date;
  exitedAt?: Date;
  durationMs?: number;
  outcome: 'running' | 'succeeded' | 'failed';
  error?: string | undefined;
  cause?: string | undefined;
  /** Attempts that failed and were retried before this visit's outcome. */
  retries: number;
  /** What the step produced, in a few words (tests passed, cache restored, …). */
  summary?: string | undefined;
  /**
   * The visit was still running when the execution ended (stopped, timed out, failed elsewhere or
   * by a stop of the runtime): its outcome is `failed`, with the execution's error, though the
   * state itself did not fail.
   */
  interrupted?: true;
}

/** A `RedriveExecution` in the history: the run went on after it had stopped. */
export interface StoryRedrive {
  /** The execution's redrive count after this redrive (1 for the first). */
  redriveCount: number;
  at: Date;
  /** How many visits came before it: it is told between `visits[afterVisits - 1]` and `visits[afterVisits]`. */
  afterVisits: number;
}

/** Where each step keeps its result in the state (the ASL's `ResultPath`). */
const resultPaths: Record<string, string> = {
  FetchSource: 'source',
  Build: 'build',
  Test: 'test',
  PublishImage: 'publish',
  DeployStaging: 'staging',
  CheckStaging: 'staging',
  DeployProduction: 'production',
  CheckProduction: 'production',
  RequestApproval: 'approval',
  EnterLane: 'lane',
  CheckLaneBeforeStaging: 'lane',
  CheckLaneBeforeApproval: 'lane',
  CheckLaneAfterApproval: 'lane',
  CheckLaneBeforeProduction: 'lane',
};

/** What a run produced that a person looks for: the image, the environments' URLs, the approval. */
export interface RunResults {
  image?: { uri: string; digest: string; repository: string; tags: string[] };
  staging?: DeployedTo;
  production?: DeployedTo;
  approval?: { decision: string; approver?: string; comment?: string; decidedAt?: string };
}
export interface DeployedTo {
  outcome?: string;
  rolloutState?: string;
  url?: string;
  taskDefinitionArn?: string;
  supersededBy?: string;
}

/**
 * The run's results read from the states' outputs in its history, so they are there whether or
 * not a later state failed (a failed execution has no output of its own).
 */
export function resultsOf(events: readonly LocalHistoryEvent[]): RunResults {
  const results: RunResults = {};
  for (const event of events) {
    if (!String(event.type).endsWith('StateExited')) continue;
    const info = details(event);
    const path = resultPaths[String(info?.name)];
    if (!path || info?.output === undefined) continue;
    let state: Record<string, unknown>;
    try {
      state = JSON.parse(String(info.output)) as Record<string, unknown>;
    } catch {
      continue;
    }
    const value = state[path] as Record<string, unknown> | undefined;
    if (!value || typeof value !== 'object') continue;
    if (path === 'publish' && value.image && typeof value.image === 'object')
      results.image = value.image as NonNullable<RunResults['image']>;
    if (path === 'staging' || path === 'production') results[path] = value as DeployedTo;
    if (path === 'approval') results.approval = value as NonNullable<RunResults['approval']>;
  }
  return results;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** A few words on what a step produced, read from the state output it left. */
export function summarizeStep(stateName: string, stateOutput: string | undefined): string | undefined {
  const path = resultPaths[stateName];
  if (!path || !stateOutput) return undefined;
  let result: Record<string, unknown> | undefined;
  try {
    result = (JSON.parse(stateOutput) as Record<string, Record<string, unknown> | undefined>)[path];
  } catch {
    return undefined;
  }
  if (!result) return undefined;
  const parts: string[] = [];
  if (typeof result.files === 'number') parts.push(`${plural(result.files, 'file')}, stepline.yml valid`);
  const commands = result.commands as unknown[] | undefined;
  if (Array.isArray(commands) && (commands.length > 0 || result.stage !== 'publish'))
    parts.push(`${plural(commands.length, 'command')} in ${formatDuration(Number(result.commandsMs))}`);
  const tests = result.tests as
    | { total: number; passed: number; failed: number; skipped: number }
    | undefined;
  if (tests)
    parts.push(
      `${plural(tests.total, 'test')}: ${tests.passed} passed, ${tests.failed} failed, ${tests.skipped} skipped`,
    );
  const cache = result.cache as { restored: boolean; saved: boolean } | undefined;
  if (cache) parts.push(cache.restored ? 'cache restored' : cache.saved ? 'cache saved' : 'cache miss');
  const artifacts = result.artifacts as { files: number } | undefined;
  if (artifacts) parts.push(`${plural(artifacts.files, 'artifact')} kept`);
  const image = result.image as
    | { digest: string; layers: number; bytesPushed: number; blobsSkipped?: number }
    | undefined;
  if (image)
    parts.push(
      `image ${image.digest.slice(0, 19)}… (${plural(image.layers, 'layer')}, ${formatBytes(image.bytesPushed)} pushed${image.blobsSkipped ? `, ${plural(image.blobsSkipped, 'blob')} already there` : ''})`,
    );
  if (typeof result.outcome === 'string') parts.push(describeRollout(result as DeployedTo, stateName));
  if (typeof result.decision === 'string') {
    const comment = typeof result.comment === 'string' && result.comment ? `: "${result.comment}"` : '';
    parts.push(
      `${result.decision === 'approve' ? 'approved' : result.decision} by ${String(result.approver)}${comment}`,
    );
  }
  if (typeof result.mode === 'string') parts.push(describeLaneEntry(result));
  if (result.superseded === true) {
    const newer = result.supersededBy as { execution?: string; commit?: string } | undefined;
    parts.push(
      `superseded by ${newer?.execution ?? 'a newer push'}${newer?.commit ? ` (commit ${newer.commit.slice(0, 12)})` : ''}`,
    );
  }
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** EnterLane's result: the branch's execution mode, whether the run waits, whom it supersedes. */
function describeLaneEntry(result: Record<string, unknown>): string {
  const supersedes = Array.isArray(result.supersedes) ? (result.supersedes as string[]) : [];
  return [
    `${String(result.mode)} mode`,
    ...(result.wait === true ? ['waits for the runs of the branch ahead'] : []),
    ...(supersedes.length > 0 ? [`supersedes ${supersedes.join(', ')}`] : []),
  ].join(', ');
}

function describeRollout(state: DeployedTo, stateName: string): string {
  if (state.outcome === 'Superseded')
    return `superseded: already runs newer commit ${state.supersededBy?.slice(0, 12) ?? '?'}`;
  const revision = state.taskDefinitionArn?.split('/').at(-1);
  if (stateName.startsWith('Deploy')) return `revision ${revision ?? '?'} rolling out`;
  if (state.rolloutState === 'COMPLETED') return `completed${state.url ? `, serving ${state.url}` : ''}`;
  return `${(state.rolloutState ?? 'in progress').toLowerCase().replace('_', ' ')}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function details(event: LocalHistoryEvent): Record<string, unknown> | undefined {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventDetails') && value && typeof value === 'object')
      return value as Record<string, unknown>;
  }
  return undefined;
}

const failureType = /(Failed|TimedOut|Aborted)$/;

/**
 * Folds a history into state visits, in order. A failed attempt followed by another attempt of
 * the same state counts as a retry; the last failure before the state is left is its outcome.
 */
export class StoryBuilder {
  readonly visits: StateVisit[] = [];
  /** The redrives (`ExecutionRedriven`), in order, each placed among the visits. */
  readonly redrives: StoryRedrive[] = [];
  private current: StateVisit | undefined;

  /** Feeds one event; returns the visit it started or finished, or the redrive, for live printing. */
  add(event: LocalHistoryEvent): { started?: StateVisit; finished?: StateVisit; redriven?: StoryRedrive } {
    const type = String(event.type);
    const info = details(event);
    if (type === 'ExecutionRedriven') {
      // A visit still open here lost its end (the execution's own end was not recorded): the stop interrupted it.
      const open = this.current;
      if (open) this.interrupt(open, event, 'Stepline.Interrupted', undefined);
      const redrive: StoryRedrive = {
        redriveCount: Number(info?.redriveCount ?? this.redrives.length + 1),
        at: new Date(event.timestamp),
        afterVisits: this.visits.length,
      };
      this.redrives.push(redrive);
      return open ? { finished: open, redriven: redrive } : { redriven: redrive };
    }
    if (type.endsWith('StateEntered')) {
      const visit: StateVisit = {
        name: String(info?.name ?? '?'),
        type: type.replace('StateEntered', ''),
        enteredAt: new Date(event.timestamp),
        outcome: 'running',
        retries: 0,
      };
      this.visits.push(visit);
      this.current = visit;
      if (visit.type === 'Fail') {
        visit.outcome = 'failed';
        visit.exitedAt = visit.enteredAt;
        visit.durationMs = 0;
        this.current = undefined;
        return { started: visit, finished: visit };
      }
      return { started: visit };
    }
    if (type.endsWith('StateExited') && this.current) {
      const visit = this.current;
      visit.exitedAt = new Date(event.timestamp);
      visit.durationMs = visit.exitedAt.getTime() - visit.enteredAt.getTime();
      if (visit.outcome === 'running') {
        visit.outcome = 'succeeded';
        visit.summary = summarizeStep(
          visit.name,
          info?.output === undefined ? undefined : String(info.output),
        );
      }
      this.current = undefined;
      return { finished: visit };
    }
    if (this.current && failureType.test(type) && !type.startsWith('Execution')) {
      this.current.outcome = 'failed';
      this.current.error = String(info?.error ?? type);
      this.current.cause = info?.cause === undefined ? undefined : String(info.cause);
      return {};
    }
    if (this.current && /Scheduled$/.test(type) && this.current.outcome === 'failed') {
      // A new attempt of the same state: the previous failure was retried.
      this.current.retries++;
      this.current.outcome = 'running';
      this.current.error = undefined;
      this.current.cause = undefined;
    }
    if (type.startsWith('Execution') && failureType.test(type) && this.current) {
      const visit = this.current;
      // Running (not failed and awaiting a retry): the state did not fail, the execution ended under it.
      if (visit.outcome === 'running') this.interrupt(visit, event, String(info?.error ?? type), info?.cause);
      else {
        visit.exitedAt = new Date(event.timestamp);
        visit.durationMs = visit.exitedAt.getTime() - visit.enteredAt.getTime();
      }
      this.current = undefined;
      return { finished: visit };
    }
    return {};
  }

  private interrupt(visit: StateVisit, event: LocalHistoryEvent, error: string, cause: unknown): void {
    visit.outcome = 'failed';
    visit.interrupted = true;
    visit.error ??= error;
    visit.cause ??= cause === undefined ? undefined : String(cause);
    visit.exitedAt = new Date(event.timestamp);
    visit.durationMs = visit.exitedAt.getTime() - visit.enteredAt.getTime();
    this.current = undefined;
  }
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/**
 * A cause as a person reads it: a Lambda function's failure reaches Step Functions as the runtime's
 * JSON (`{"errorMessage","errorType","trace"}`, on AWS and locally alike), of which the message is
 * what to show; any other cause as it is.
 */
export function readableCause(cause: string | undefined): string {
  if (!cause?.startsWith('{"errorMessage":')) return cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown; errorType?: unknown };
    if (typeof parsed.errorMessage === 'string' && typeof parsed.errorType === 'string')
      return parsed.errorMessage;
  } catch {
    // Not the runtime's JSON after all (cut short, or a message that starts like it).
  }
  return cause;
}

/** The first lines of a cause, indented, for a terminal. */
export function indentCause(rawCause: string | undefined, maxLines = 40): string {
  const cause = readableCause(rawCause);
  if (!cause) return '';
  const lines = cause.split('\n');
  const shown =
    lines.length > maxLines
      ? [`… ${lines.length - maxLines} earlier lines`, ...lines.slice(-maxLines)]
      : lines;
  return shown.map((line) => `      ${printable(line, { multiline: true })}`).join('\n');
}
