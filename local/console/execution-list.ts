import * as z from 'zod';
import { executionStatuses, type StoredExecution } from '#local/sfn/store.ts';
import type { ExecutionListPage, ExecutionSummary } from './api-types.ts';
import { summarizeExecution } from './views.ts';

/** Rows per page of `GET /api/executions` unless `limit` says otherwise. */
export const defaultPageSize = 50;
export const maxPageSize = 200;

const emptyAsUndefined = (value: unknown) => (value === '' || value === null ? undefined : value);

/** The list request's query: filters, page size and the `nextToken` of the page before. */
export const ListQuery = z.object({
  repository: z.preprocess(emptyAsUndefined, z.string().max(500).optional()),
  branch: z.preprocess(emptyAsUndefined, z.string().max(500).optional()),
  status: z.preprocess(emptyAsUndefined, z.enum(executionStatuses).optional()),
  limit: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(1).max(maxPageSize).default(defaultPageSize),
  ),
  nextToken: z.preprocess(emptyAsUndefined, z.string().max(2000).optional()),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** Where a page ends: the last row's start date and name (the list's sort key). */
const Cursor = z.object({ s: z.iso.datetime(), n: z.string().min(1) });

export class BadNextTokenError extends Error {
  override name = 'BadNextTokenError' as const;
}

function encodeCursor(row: { startDate: string; name: string }): string {
  return Buffer.from(JSON.stringify({ s: row.startDate, n: row.name })).toString('base64url');
}

function decodeCursor(token: string): z.infer<typeof Cursor> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    json = undefined;
  }
  const cursor = Cursor.safeParse(json);
  if (!cursor.success)
    throw new BadNextTokenError(
      `nextToken: ${JSON.stringify(token.slice(0, 80))} is not a token this console gave`,
    );
  return cursor.data;
}

/** True when `row` comes after the cursor in the list's order (start date, then name, both descending). */
function isAfter(row: { startDate: string; name: string }, cursor: z.infer<typeof Cursor>): boolean {
  return row.startDate < cursor.s || (row.startDate === cursor.s && row.name < cursor.n);
}

/**
 * One page of the executions list. `records` come newest first (as `listStoredExecutions` gives
 * them); the filters apply to every record before the page is cut, so a page holds `limit` matching
 * rows when there are that many; `nextToken` (the last row's sort key) names where the next page
 * starts, so rows that start meanwhile never shift it. The filters read the records only (the
 * push and the status); `summaryOf` (history, cost) is asked for the page's rows alone.
 * `repositories` and `branches` are those of every execution, for the filters' choices.
 */
export function pageOfExecutions(
  records: readonly StoredExecution[],
  query: ListQuery,
  summaryOf: (record: StoredExecution) => ExecutionSummary,
): ExecutionListPage {
  const cursor = query.nextToken === undefined ? undefined : decodeCursor(query.nextToken);
  // What was pushed, from the record alone (no history, no cost).
  const rows = records.map((record) => ({ record, push: summarizeExecution(record, undefined, null) }));
  const matching = rows.filter(
    ({ record, push }) =>
      (!query.repository || push.repository === query.repository) &&
      (!query.branch || push.branch === query.branch) &&
      (!query.status || record.status === query.status),
  );
  const rest = cursor ? matching.filter(({ record }) => isAfter(record, cursor)) : matching;
  const executions = rest.slice(0, query.limit).map(({ record }) => summaryOf(record));
  const last = executions.at(-1);
  return {
    executions,
    nextToken: rest.length > query.limit && last ? encodeCursor(last) : null,
    total: matching.length,
    repositories: [...new Set(rows.map(({ push }) => push.repository).filter((r) => r !== null))].sort(),
    branches: [...new Set(rows.map(({ push }) => push.branch).filter((b) => b !== null))].sort(),
  };
}

/** What a finished execution's summary depends on: a redrive (here or in another process) changes it. */
function finishedKey(record: StoredExecution): string {
  return JSON.stringify([
    record.executionArn,
    record.status,
    record.stopDate ?? null,
    record.redriveCount ?? 0,
    record.redriveDate ?? null,
  ]);
}

/**
 * Summaries of finished executions, kept: a finished execution's history no longer changes (the
 * engine writes its final record after its last event), so its row is computed once. A running
 * execution is summarized afresh each time (its current state moves). A redrive makes an execution
 * RUNNING again: `forget` drops its row when the engine records an event for it, and a record
 * whose status, stop date or redrive count differs from the kept row's (a redrive by another
 * process) is summarized again.
 */
export class SummaryCache {
  private readonly finished = new Map<string, { key: string; summary: ExecutionSummary }>();

  constructor(private readonly summarize: (record: StoredExecution) => ExecutionSummary) {}

  summaryOf(record: StoredExecution): ExecutionSummary {
    if (record.status === 'RUNNING') {
      this.finished.delete(record.name);
      return this.summarize(record);
    }
    const key = finishedKey(record);
    const kept = this.finished.get(record.name);
    if (kept?.key === key) return kept.summary;
    const summary = this.summarize(record);
    this.finished.set(record.name, { key, summary });
    return summary;
  }

  forget(name: string): void {
    this.finished.delete(name);
  }

  /** Only the names listed remain (executions whose files were removed are dropped). */
  retain(names: ReadonlySet<string>): void {
    for (const name of this.finished.keys()) if (!names.has(name)) this.finished.delete(name);
  }

  get size(): number {
    return this.finished.size;
  }
}
