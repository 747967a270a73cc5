import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HistoryEvent, HistoryEventType } from '@aws-sdk/client-sfn';
import { z } from 'zod';

/**
 * The execution store of the local runtime: one JSON record per execution, replaced atomically,
 * and one JSONL history file per execution, appended line by line. Everything a second process
 * (`stepline executions show`) needs is read from here, with nothing but the data directory.
 *
 * Layout: `<dataDir>/executions/<name>.json` and `<dataDir>/executions/<name>.history.jsonl`.
 * Execution names cannot hold `/`, `\` or control characters (see `validateExecutionName`), so a
 * name is always a safe file name once an extension is appended.
 */

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

/** Replaces an execution's record atomically (temp file + rename), so a reader never sees half of it. */
export function writeStoredExecution(dataDir: string, record: StoredExecution): void {
  ensureStore(dataDir);
  const target = recordPath(dataDir, record.name);
  const temp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temp, `${JSON.stringify(StoredExecution.parse(record), null, 2)}\n`);
  renameSync(temp, target);
}

/** Appends one event to an execution's history; synchronous, so events land in the order they happen. */
export function appendHistoryEvent(dataDir: string, name: string, event: LocalHistoryEvent): void {
  ensureStore(dataDir);
  appendFileSync(historyPath(dataDir, name), `${JSON.stringify(serializeEvent(event))}\n`);
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

/** Every stored execution, newest first. */
export function listStoredExecutions(dataDir: string): StoredExecution[] {
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
    const record = readStoredExecution(dataDir, file.slice(0, -recordSuffix.length));
    if (record) records.push(record);
  }
  return records.sort(
    (a, b) => b.startDate.localeCompare(a.startDate) || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
  );
}

/**
 * The history of execution `name`, oldest first; empty when there is none. A last line that another
 * process is still writing is skipped rather than reported as corrupt.
 */
export function readHistory(dataDir: string, name: string): LocalHistoryEvent[] {
  const text = readIfExists(historyPath(dataDir, name));
  if (text === undefined) return [];
  const lines = text.split('\n');
  const events: LocalHistoryEvent[] = [];
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (error) {
      if (index === lines.length - 1) return;
      throw new Error(`history of execution "${name}" has an invalid line ${index + 1}`, { cause: error });
    }
    const parsed = StoredHistoryLine.parse(json);
    events.push({ ...parsed, timestamp: new Date(parsed.timestamp) } as LocalHistoryEvent);
  });
  return events;
}
