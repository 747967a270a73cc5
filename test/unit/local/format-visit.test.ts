import { describe, expect, it } from 'vitest';
import { formatVisit, stateNameWidth } from '#local/commands/executions.ts';
import pipeline from '#state-machines/pipeline.asl.json' with { type: 'json' };

describe('formatVisit', () => {
  it('keeps durations in one column for every state name of the pipeline', () => {
    const names = Object.keys(pipeline.States);
    const longest = Math.max(...names.map((name) => name.length));
    expect(stateNameWidth).toBeGreaterThanOrEqual(longest);
    const columns = names.map((name) =>
      formatVisit({ name, outcome: 'succeeded', durationMs: 1200, retries: 0 } as Parameters<
        typeof formatVisit
      >[0]).indexOf('1.2'),
    );
    expect(new Set(columns).size).toBe(1);
  });
});
