import { isProcessAlive } from '#local/process.ts';
import type { EngineLogger } from './api-types.ts';
import {
  appendHistoryEvent,
  listStoredExecutions,
  readHistory,
  repairHistoryTail,
  type StoredExecution,
  writeStoredExecution,
} from './store.ts';

/**
 * Crash recovery: an execution left RUNNING in the store by a runtime that is gone can never finish
 * (its task tokens died with that process), so a new engine ends it as FAILED with
 * {@link runtimeStoppedError}, keeping its history.
 */

/** Error of an execution that was RUNNING when the local runtime stopped. */
export const runtimeStoppedError = 'Stepline.RuntimeStopped';

/** Engine ids alive in this process; a RUNNING record owned by this pid but none of these is stale. */
const liveEngineIds = new Set<string>();

/** Engine `engineId` runs in this process from now on (until {@link engineStopped}). */
export function engineStarted(engineId: string): void {
  liveEngineIds.add(engineId);
}

export function engineStopped(engineId: string): void {
  liveEngineIds.delete(engineId);
}

/** Whether `record` is RUNNING with an owner that is gone: its process exited, or it is this process and no live engine here holds it. */
export function isStale(record: StoredExecution): boolean {
  if (record.status !== 'RUNNING') return false;
  return record.ownerPid === process.pid
    ? !liveEngineIds.has(record.ownerId)
    : !isProcessAlive(record.ownerPid);
}

/**
 * Marks FAILED every RUNNING execution in the store whose engine is gone (see {@link isStale}), with
 * an `ExecutionFailed` event appended to its history. Returns the records as they were (RUNNING).
 */
export function recoverStaleExecutions(dataDir: string, logger: EngineLogger): StoredExecution[] {
  const warn = (message: string) => logger.warn(message);
  const records = listStoredExecutions(dataDir, (skipped) =>
    logger.warn('skipped an execution record that cannot be read', { ...skipped }),
  );
  const recovered: StoredExecution[] = [];
  for (const record of records) {
    if (!isStale(record)) continue;
    // A crash mid-append leaves a torn last line: cut it off so ExecutionFailed gets a line of its own.
    const torn = repairHistoryTail(dataDir, record.name);
    if (torn !== undefined)
      logger.warn('removed a torn last line from the history of an execution', {
        executionArn: record.executionArn,
        fragment: torn,
      });
    const history = readHistory(dataDir, record.name, warn);
    const last = history.at(-1);
    const now = new Date();
    const cause =
      `The local runtime (process ${record.ownerPid}) stopped while this execution was running` +
      `${last ? `; its last event was at ${last.timestamp.toISOString()}` : ''}. ` +
      `Noticed at ${now.toISOString()}.`;
    const id = (last?.id ?? 0) + 1;
    appendHistoryEvent(
      dataDir,
      record.name,
      {
        id,
        previousEventId: id - 1,
        timestamp: now,
        type: 'ExecutionFailed',
        executionFailedEventDetails: { error: runtimeStoppedError, cause },
      },
      warn,
    );
    writeStoredExecution(dataDir, {
      ...record,
      status: 'FAILED',
      error: runtimeStoppedError,
      cause,
      stopDate: now.toISOString(),
    });
    logger.warn('marked an execution left RUNNING by a stopped runtime as FAILED', {
      executionArn: record.executionArn,
    });
    recovered.push(record);
  }
  return recovered;
}
