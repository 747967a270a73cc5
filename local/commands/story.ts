import type { LocalHistoryEvent } from '#local/sfn/store.ts';

/** One state's visit, as an execution's history tells it. */
export interface StateVisit {
  name: string;
  type: string;
  enteredAt: Date;
  exitedAt?: Date;
  durationMs?: number;
  outcome: 'running' | 'succeeded' | 'failed';
  error?: string;
  cause?: string | undefined;
  /** Attempts that failed and were retried before this visit's outcome. */
  retries: number;
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
  private current: StateVisit | undefined;

  /** Feeds one event; returns the visit it started or finished, if any, for live printing. */
  add(event: LocalHistoryEvent): { started?: StateVisit; finished?: StateVisit } {
    const type = String(event.type);
    const info = details(event);
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
      if (visit.outcome === 'running') visit.outcome = 'succeeded';
      this.current = undefined;
      return { finished: visit };
    }
    if (this.current && failureType.test(type) && !type.startsWith('Execution')) {
      if (this.current.error !== undefined) this.current.retries++;
      this.current.outcome = 'failed';
      this.current.error = String(info?.error ?? type);
      this.current.cause = info?.cause === undefined ? undefined : String(info.cause);
      return {};
    }
    if (this.current && /(Scheduled|Started)$/.test(type) && this.current.outcome === 'failed') {
      // A new attempt of the same state: the previous failure was retried.
      this.current.outcome = 'running';
    }
    if (type.startsWith('Execution') && failureType.test(type) && this.current) {
      const visit = this.current;
      visit.outcome = 'failed';
      visit.error ??= String(info?.error ?? type);
      visit.cause ??= info?.cause === undefined ? undefined : String(info.cause);
      visit.exitedAt = new Date(event.timestamp);
      visit.durationMs = visit.exitedAt.getTime() - visit.enteredAt.getTime();
      this.current = undefined;
      return { finished: visit };
    }
    return {};
  }
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** The first lines of a cause, indented, for a terminal. */
export function indentCause(cause: string | undefined, maxLines = 40): string {
  if (!cause) return '';
  const lines = cause.split('\n');
  const shown =
    lines.length > maxLines
      ? [`… ${lines.length - maxLines} earlier lines`, ...lines.slice(-maxLines)]
      : lines;
  return shown.map((line) => `      ${line}`).join('\n');
}
