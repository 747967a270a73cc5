import type { LocalStepFunctions } from '#local/sfn/engine.ts';
import {
  appendHistoryEvent,
  readHistory,
  readStoredExecution,
  writeStoredExecution,
} from '#local/sfn/store.ts';

/**
 * Stores `count` finished copies of the finished execution `template` (its record and history,
 * through the store), a minute apart from 2026-01-01, each `durationMs` long; copy `n` is named
 * `name(n)`, has the input `input(n)`, and every tenth one FAILED.
 */
export function storeFinishedCopies(
  dataDir: string,
  engine: LocalStepFunctions,
  template: string,
  options: { count: number; name: (n: number) => string; input: (n: number) => string; durationMs: number },
): void {
  const record = readStoredExecution(dataDir, template);
  if (!record) throw new Error(`no stored execution "${template}" to copy`);
  const history = readHistory(dataDir, template);
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let n = 1; n <= options.count; n++) {
    const name = options.name(n);
    const start = base + n * 60_000;
    for (const event of history) appendHistoryEvent(dataDir, name, event);
    writeStoredExecution(dataDir, {
      ...record,
      name,
      executionArn: engine.executionArnOf(name),
      input: options.input(n),
      startDate: new Date(start).toISOString(),
      stopDate: new Date(start + options.durationMs).toISOString(),
      status: n % 10 === 0 ? 'FAILED' : 'SUCCEEDED',
    });
  }
}
