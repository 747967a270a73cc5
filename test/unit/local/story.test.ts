import { describe, expect, it } from 'vitest';
import { StoryBuilder, summarizeStep } from '#local/commands/story.ts';
import type { LocalHistoryEvent } from '#local/sfn/store.ts';

let id = 0;
function event(type: string, details: Record<string, unknown> = {}, at = id): LocalHistoryEvent {
  id++;
  return {
    id,
    previousEventId: id - 1,
    timestamp: new Date(1_700_000_000_000 + at * 1000),
    type,
    ...details,
  } as LocalHistoryEvent;
}

describe('StoryBuilder', () => {
  it('folds entered and exited events into visits with durations', () => {
    const story = new StoryBuilder();
    story.add(event('TaskStateEntered', { stateEnteredEventDetails: { name: 'Build' } }, 0));
    story.add(event('TaskStateExited', { stateExitedEventDetails: { name: 'Build', output: '{}' } }, 3));

    expect(story.visits).toMatchObject([
      { name: 'Build', type: 'Task', outcome: 'succeeded', durationMs: 3000 },
    ]);
  });

  it('counts a failed attempt followed by another as a retry, not as the outcome', () => {
    const story = new StoryBuilder();
    story.add(event('TaskStateEntered', { stateEnteredEventDetails: { name: 'FetchSource' } }));
    story.add(event('LambdaFunctionScheduled'));
    story.add(
      event('LambdaFunctionFailed', {
        lambdaFunctionFailedEventDetails: { error: 'Lambda.TooManyRequestsException' },
      }),
    );
    story.add(event('LambdaFunctionScheduled'));
    story.add(event('LambdaFunctionSucceeded'));
    story.add(event('TaskStateExited', { stateExitedEventDetails: { name: 'FetchSource', output: '{}' } }));

    expect(story.visits[0]).toMatchObject({ outcome: 'succeeded', retries: 1, error: undefined });
  });

  it('keeps the error and cause of a failed step', () => {
    const story = new StoryBuilder();
    story.add(event('TaskStateEntered', { stateEnteredEventDetails: { name: 'Test' } }));
    story.add(
      event('TaskFailed', { taskFailedEventDetails: { error: 'TestsFailedError', cause: '1 failed' } }),
    );
    story.add(event('TaskStateExited', { stateExitedEventDetails: { name: 'Test', output: '{}' } }));

    expect(story.visits[0]).toMatchObject({
      outcome: 'failed',
      error: 'TestsFailedError',
      cause: '1 failed',
    });
  });
});

describe('summarizeStep', () => {
  it('says how many tests passed and failed', () => {
    const output = JSON.stringify({
      test: { commands: [{}], commandsMs: 500, tests: { total: 9, passed: 8, failed: 1, skipped: 0 } },
    });

    expect(summarizeStep('Test', output)).toBe('1 command in 500 ms, 9 tests: 8 passed, 1 failed, 0 skipped');
  });

  it('says whether the build cache was restored', () => {
    const output = JSON.stringify({
      build: { commands: [{}, {}], commandsMs: 1200, cache: { restored: true, saved: false } },
    });

    expect(summarizeStep('Build', output)).toBe('2 commands in 1.2 s, cache restored');
  });

  it('says which execution mode a run entered its lane in and which older runs it supersedes', () => {
    const output = JSON.stringify({ lane: { mode: 'superseded', wait: false, supersedes: ['github-1'] } });

    expect(summarizeStep('EnterLane', output)).toBe('superseded mode, supersedes github-1');
  });

  it('names the newer push at the checkpoint that found the run superseded', () => {
    const output = JSON.stringify({
      lane: { superseded: true, supersededBy: { execution: 'github-2', commit: 'c'.repeat(40) } },
    });

    expect(summarizeStep('CheckLaneBeforeStaging', output)).toBe(
      `superseded by github-2 (commit ${'c'.repeat(12)})`,
    );
    expect(
      summarizeStep('CheckLaneBeforeStaging', JSON.stringify({ lane: { superseded: false } })),
    ).toBeUndefined();
  });

  it('says nothing for a state that keeps no result', () => {
    expect(summarizeStep('ReportPending', '{}')).toBeUndefined();
  });
});
