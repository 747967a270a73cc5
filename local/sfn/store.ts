import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { join } from 'node:path';
import type { HistoryEvent, HistoryEventType } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { writeAll, writeFileDurably } from '#shared/durable-file.ts';

/**
 * The execution store of the local runtime: one JSON record per execution, replaced atomically,
 * and one JSONL history file per execution, appended line by line. Everything a second process
 * (`stepline executions show`) needs is read from here, with nothing but the data directory.
 *
 * Layout: `<dataDir>/executions/<name>.json` and `<dataDir>/executions/<name>.history.jsonl`.
 * Execution names cannot hold `/`, `\` or control characters (see `validateExecutionName`), so a
 * name is always a safe file name once an extension is appended.
 *
 * Crashes: records are written to a temp file, fsynced and renamed (then the directory fsynced);
 * history appends of execution-level events (started, ended) are fsynced. A `kill -9` or power loss
 * mid-append can still leave a torn last history line: the first append of this process to a history
 * cuts it off first, and readers skip (with a warning) any line that does not parse.
 */

/** How the store reports what it skipped or repaired; by default a process warning on stderr. */
export type StoreWarn = (message: string) => void;
const defaultWarn: StoreWarn = (message) => process.emitWarning(message, 'SteplineStoreWarning');

export const executionStatuses = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];

/** One execution's record as stored on disk. Dates are ISO 8601 strings. */
export const StoredExecution = z.object({
  name: z.string().min(1),
  executionArn: z.string().min(1),
  stateMachineArn: z.string().min(1),
  status: z.enum(executionStatuses),
  /** The execution input, as the JSON text it was started with. */
  input: z.string(),
  /** The execution output as JSON text, once it has SUCCEEDED. */
  output: z.string().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
  startDate: z.iso.datetime(),
  stopDate: z.iso.datetime().optional(),
  /** Process id of the engine that runs (or ran) it, for recovery after that process is gone. */
  ownerPid: z.number().int(),
  /** Id of the engine instance that runs (or ran) it; a new engine in the same process has another. */
  ownerId: z.string(),
  /** How many times it was redriven (`RedriveExecution`); absent means 0. */
  redriveCount: z.number().int().nonnegative().optional(),
  /** When it was last redriven. */
  redriveDate: z.iso.datetime().optional(),
  /** The client tokens of its last 10 redrives, for `RedriveExecution`'s idempotency. */
  redriveClientTokens: z.array(z.object({ token: z.string(), redriveDate: z.iso.datetime() })).optional(),
});
export type StoredExecution = z.infer<typeof StoredExecution>;

/**
 * A Step Functions `HistoryEvent` as the local runtime records it: the SDK's shape, with the
 * fields AWS always sets made required.
 */
export type LocalHistoryEvent = Omit<HistoryEvent, 'id' | 'previousEventId' | 'timestamp' | 'type'> & {
  id: number;
  previousEventId: number;
  timestamp: Date;
  type: HistoryEventType;
};

const StoredHistoryLine = z
  .object({
    id: z.number().int().positive(),
    previousEventId: z.number().int().nonnegative(),
    timestamp: z.iso.datetime(),
    type: z.string().min(1),
  })
  .loose();

/** Directory that holds the records and histories of `dataDir`. */
export function executionsDir(dataDir: string): string {
  return join(dataDir, 'executions');
}

function recordPath(dataDir: string, name: string): string {
  return join(executionsDir(dataDir), `${name}.json`);
}

function historyPath(dataDir: string, name: string): string {
  return join(executionsDir(dataDir), `${name}.history.jsonl`);
}

const historySuffix = '.history.jsonl';
const recordSuffix = '.json';

/** Creates the store's directory if needed. */
export function ensureStore(dataDir: string): void {
  mkdirSync(executionsDir(dataDir), { recursive: true });
}

/**
 * Replaces an execution's record atomically and durably (temp file, fsync, rename, fsync of the
 * directory), so a reader never sees half of it and a power loss leaves the old or the new record.
 */
export function writeStoredExecution(dataDir: string, record: StoredExecution): void {
  ensureStore(dataDir);
  writeFileDurably(
    recordPath(dataDir, record.name),
    `${JSON.stringify(StoredExecution.parse(record), null, 2)}\n`,
  );
}

/** Histories this process has checked for a torn tail (and so may append to without looking). */
const checkedHistories = new Set<string>();

/**
 * Cuts off a torn last line of execution `name`'s history (one without its newline, left by a crash
 * mid-append), so the next event starts on a line of its own. Returns the fragment it removed.
 */
export function repairHistoryTail(dataDir: string, name: string): string | undefined {
  const path = historyPath(dataDir, name);
  checkedHistories.add(path);
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return undefined;
    const bytes = Buffer.alloc(size);
    readSync(fd, bytes, 0, size, 0);
    const keep = bytes.lastIndexOf(0x0a) + 1;
    ftruncateSync(fd, keep);
    fsyncSync(fd);
    return bytes.subarray(keep).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Appends one event to an execution's history; synchronous, so events land in the order they happen.
 * The first append of this process to a history repairs a torn tail first (see `repairHistoryTail`);
 * the start and end of an execution are fsynced.
 */
export function appendHistoryEvent(
  dataDir: string,
  name: string,
  event: LocalHistoryEvent,
  warn: StoreWarn = defaultWarn,
): void {
  ensureStore(dataDir);
  const path = historyPath(dataDir, name);
  if (!checkedHistories.has(path)) {
    const torn = repairHistoryTail(dataDir, name);
    if (torn !== undefined)
      warn(`removed a torn last line from the history of execution "${name}": ${JSON.stringify(torn)}`);
  }
  const fd = openSync(path, 'a', 0o600);
  try {
    writeAll(fd, `${JSON.stringify(serializeEvent(event))}\n`);
    if (String(event.type).startsWith('Execution')) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function serializeEvent(event: LocalHistoryEvent): Record<string, unknown> {
  return { ...event, timestamp: event.timestamp.toISOString() };
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The record of execution `name`, or `undefined` when the store has none. */
export function readStoredExecution(dataDir: string, name: string): StoredExecution | undefined {
  const path = recordPath(dataDir, name);
  const text = readIfExists(path);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`execution record ${path} is not valid JSON`, { cause: error });
  }
  const parsed = StoredExecution.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `execution record ${path} is invalid: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown'}`,
    );
  }
  return parsed.data;
}

/** A record `listStoredExecutions` skipped because it cannot be read. */
export interface UnreadableExecution {
  name: string;
  path: string;
  reason: string;
}

/**
 * Every stored execution, newest first. A record that cannot be read (empty or torn after a power
 * loss, invalid) is skipped and passed to `onUnreadable` (by default a process warning).
 */
export function listStoredExecutions(
  dataDir: string,
  onUnreadable: (skipped: UnreadableExecution) => void = (skipped) =>
    defaultWarn(`skipped execution record ${skipped.path}: ${skipped.reason}`),
): StoredExecution[] {
  let files: string[];
  try {
    files = readdirSync(executionsDir(dataDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const records: StoredExecution[] = [];
  for (const file of files) {
    if (!file.endsWith(recordSuffix) || file.endsWith(historySuffix)) continue;
    const name = file.slice(0, -recordSuffix.length);
    try {
      const record = readStoredExecution(dataDir, name);
      if (record) records.push(record);
    } catch (error) {
      const cause = (error as Error).cause;
      const reason = `${(error as Error).message}${cause instanceof Error ? ` (${cause.message})` : ''}`;
      onUnreadable({ name, path: recordPath(dataDir, name), reason });
    }
  }
  return records.sort(
    (a, b) => b.startDate.localeCompare(a.startDate) || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
  );
}

/**
 * The history of execution `name`, oldest first; empty when there is none. A last line that another
 * process is still writing is skipped rather than reported as corrupt; any other line that is not a
 * valid event (torn by a crash) is skipped and passed to `warn`.
 */
export function readHistory(
  dataDir: string,
  name: string,
  warn: StoreWarn = defaultWarn,
): LocalHistoryEvent[] {
  const text = readIfExists(historyPath(dataDir, name));
  if (text === undefined) return [];
  const lines = text.split('\n');
  const events: LocalHistoryEvent[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      if (index === lines.length - 1) return;
      warn(`skipped line ${index + 1} of the history of execution "${name}": not valid JSON`);
      return;
    }
    const parsed = StoredHistoryLine.safeParse(json);
    if (!parsed.success) {
      warn(`skipped line ${index + 1} of the history of execution "${name}": not a history event`);
      return;
    }
    events.push({ ...parsed.data, timestamp: new Date(parsed.data.timestamp) } as LocalHistoryEvent);
  });
  return events;
}
