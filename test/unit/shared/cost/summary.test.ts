import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHistory, readStoredExecution } from '#local/sfn/store.ts';
import { estimateExecutionCost } from '#shared/cost/estimate.ts';
import { summarizeCost } from '#shared/cost/summary.ts';

const dir = join(import.meta.dirname, '../../../fixtures/hello-service-run');
const name = 'github-bdbd6b01-3bc0-4fac-8a01-9be10cc033ee';

describe('summarizeCost', () => {
  it('adds up the runs started in the window and scales the total to 30 days', () => {
    const record = readStoredExecution(dir, name)!;
    const run = { startDate: record.startDate, history: readHistory(dir, name) };
    const one = estimateExecutionCost(run.history).totalUsd;
    const before = { startDate: '2026-10-01T00:00:00Z', history: run.history };

    const summary = summarizeCost([run, run, before], {
      since: new Date('2026-11-20T00:00:00Z'),
      now: new Date('2026-11-30T00:00:00Z'),
    });

    // Both runs started 2026-11-30T07:29 are after "now": only runs inside [since, now] count.
    expect(summary.runs).toBe(0);

    const wide = summarizeCost([run, run, before], {
      since: new Date('2026-11-20T12:00:00Z'),
      now: new Date('2026-11-30T12:00:00Z'),
    });
    expect(wide).toMatchObject({ estimate: true, region: 'us-east-1', runs: 2 });
    expect(wide.windowUsd).toBeCloseTo(2 * one, 12);
    expect(wide.perRunUsd).toBeCloseTo(one, 12);
    expect(wide.perMonthUsd).toBeCloseTo(2 * one * 3, 12); // 10 days -> 30 days
  });
});
