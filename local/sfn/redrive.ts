import type { JsonValue } from './running-execution.ts';
import type { LocalHistoryEvent, StoredExecution } from './store.ts';

/**
 * `RedriveExecution`'s rules, as AWS documents them ("Redriving executions"): which executions can
 * be redriven, and the state a redrive starts from with that state's input.
 */

/** An execution can be redriven for 14 days after it stopped. */
export const redrivablePeriodMs = 14 * 24 * 60 * 60 * 1000;
/** The maximum open time of a Standard execution: one year from its start. */
const maxOpenTimeMs = 365 * 24 * 60 * 60 * 1000;

export type RedriveStatus = 'REDRIVABLE' | 'NOT_REDRIVABLE';

/**
 * Why `record` cannot be redriven now (`redriveStatusReason`, in AWS's words), or undefined when it
 * can. A redrive appends `ExecutionRedriven` and at least one more event, so the history must have
 * fewer than `historyLimit - 1` (24,999) events.
 */
export function notRedrivableReason(
  record: StoredExecution,
  historyEvents: number,
  historyLimit: number,
  now: Date,
): string | undefined {
  if (record.status === 'RUNNING') return 'Execution is RUNNING and cannot be redriven';
  if (record.status === 'SUCCEEDED') return 'Execution is SUCCEEDED and cannot be redriven';
  if (historyEvents >= historyLimit - 1) return 'Execution history event limit exceeded';
  if (now.getTime() - Date.parse(record.startDate) > maxOpenTimeMs)
    return 'Execution has exceeded the max execution time';
  const stopped = record.stopDate === undefined ? undefined : Date.parse(record.stopDate);
  if (stopped !== undefined && now.getTime() - stopped > redrivablePeriodMs)
    return 'Execution redrivable period exceeded';
  return undefined;
}

/** Where a redrive starts: a top-level state of the definition and the input it gets. */
export interface RestartPoint {
  stateName: string;
  input: JsonValue;
}

/**
 * The state a redrive reruns: the last top-level state the execution entered (it did not finish:
 * the execution is unsuccessful), with the input it entered with. State names are unique in a state
 * machine, so a nested state's events are told apart by name; a Parallel or Map state that failed
 * inside is rerun whole. An execution that stopped before entering any state restarts at `StartAt`
 * with its own input.
 */
export function restartPoint(
  definition: Record<string, unknown>,
  history: readonly LocalHistoryEvent[],
  executionInput: string,
): RestartPoint {
  const topLevel = new Set(Object.keys(definition.States as Record<string, unknown>));
  for (let i = history.length - 1; i >= 0; i--) {
    const event = history[i];
    const entered = event?.stateEnteredEventDetails;
    if (!event?.type.endsWith('StateEntered') || !entered?.name || !topLevel.has(entered.name)) continue;
    return { stateName: entered.name, input: JSON.parse(entered.input ?? 'null') as JsonValue };
  }
  return { stateName: String(definition.StartAt), input: JSON.parse(executionInput) as JsonValue };
}
