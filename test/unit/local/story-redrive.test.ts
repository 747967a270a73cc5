import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { showExecution } from '#local/commands/executions.ts';
import { StoryBuilder } from '#local/commands/story.ts';
import { appendHistoryEvent, type LocalHistoryEvent, writeStoredExecution } from '#local/sfn/store.ts';

const t0 = Date.parse('2026-11-30T08:00:00.000Z');

/** A history as the engine writes it, one event a second (ids and timestamps in order). */
function history(...bodies: Record<string, unknown>[]): LocalHistoryEvent[] {
  return bodies.map(
    (body, index) =>
      ({
        id: index + 1,
        previousEventId: index,
        timestamp: new Date(t0 + index * 1000),
        ...body,
      }) as LocalHistoryEvent,
  );
}

const entered = (name: string) => ({ type: 'TaskStateEntered', stateEnteredEventDetails: { name } });
const exited = (name: string) => ({
  type: 'TaskStateExited',
  stateExitedEventDetails: { name, output: '{}' },
});
const redriven = (redriveCount: number) => ({
  type: 'ExecutionRedriven',
  executionRedrivenEventDetails: { redriveCount },
});

/** Build runs, a stop of serve ends the execution under it, a redrive runs Build again. */
const stoppedThenRedriven = history(
  { type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}', roleArn: 'r' } },
  entered('FetchSource'),
  exited('FetchSource'),
  entered('Build'),
  { type: 'TaskScheduled' },
  { type: 'TaskStarted' },
  {
    type: 'ExecutionFailed',
    executionFailedEventDetails: { error: 'Stepline.RuntimeStopped', cause: 'serve stopped' },
  },
  redriven(1),
  entered('Build'),
  { type: 'TaskScheduled' },
  { type: 'TaskSucceeded' },
  exited('Build'),
  { type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } },
);

function storyOf(events: readonly LocalHistoryEvent[]): StoryBuilder {
  const story = new StoryBuilder();
  for (const event of events) story.add(event);
  return story;
}

describe('the story of a redriven execution', () => {
  it('marks the visit the stop ended as interrupted, not as a failure of the state, and places the redrive after it', () => {
    const story = storyOf(stoppedThenRedriven);

    expect(story.visits.map((v) => [v.name, v.outcome, v.interrupted])).toEqual([
      ['FetchSource', 'succeeded', undefined],
      ['Build', 'failed', true],
      ['Build', 'succeeded', undefined],
    ]);
    expect(story.visits[1]).toMatchObject({ error: 'Stepline.RuntimeStopped', durationMs: 3000 });
    expect(story.redrives).toEqual([{ redriveCount: 1, at: new Date(t0 + 7000), afterVisits: 2 }]);
  });

  it('closes a visit still open at the redrive (its execution’s end was never recorded) as interrupted', () => {
    const story = storyOf(
      history(entered('RequestApproval'), { type: 'TaskScheduled' }, redriven(2), entered('RequestApproval')),
    );

    expect(story.visits[0]).toMatchObject({ outcome: 'failed', interrupted: true, durationMs: 2000 });
    expect(story.visits[1]).toMatchObject({ outcome: 'running' });
    expect(story.redrives).toMatchObject([{ redriveCount: 2, afterVisits: 1 }]);
  });

  it('keeps a state’s own failure a failure, not an interruption', () => {
    const story = storyOf(
      history(
        entered('Test'),
        { type: 'TaskFailed', taskFailedEventDetails: { error: 'TestsFailedError', cause: '1 failed' } },
        { type: 'ExecutionFailed', executionFailedEventDetails: { error: 'TestsFailedError' } },
      ),
    );

    expect(story.visits[0]).toMatchObject({ outcome: 'failed', error: 'TestsFailedError' });
    expect(story.visits[0]).not.toHaveProperty('interrupted');
  });
});

describe('stepline executions show of a redriven execution', () => {
  let dataDir: string | undefined;
  afterEach(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows the interrupted visit with ✗ and "interrupted", then a "redriven (1)" line, then the rerun', () => {
    dataDir = mkdtempSync(join(tmpdir(), 'stepline-story-redrive-'));
    writeStoredExecution(dataDir, {
      name: 'push-1',
      executionArn: 'arn:aws:states:us-east-1:000000000000:execution:stepline-pipeline:push-1',
      stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:stepline-pipeline',
      status: 'SUCCEEDED',
      input: '{}',
      output: '{}',
      startDate: new Date(t0).toISOString(),
      stopDate: new Date(t0 + 12_000).toISOString(),
      ownerPid: 1,
      ownerId: 'o',
      redriveCount: 1,
      redriveDate: new Date(t0 + 7000).toISOString(),
    });
    for (const event of stoppedThenRedriven) appendHistoryEvent(dataDir, 'push-1', event);
    const lines: string[] = [];

    expect(showExecution(dataDir, 'push-1', (line) => lines.push(line))).toBe(0);

    const story = lines.filter((line) => /^ {2}[✓✗…↻] /.test(line));
    expect(story).toEqual([
      expect.stringMatching(/^ {2}✓ FetchSource /),
      expect.stringMatching(/^ {2}✗ Build +3\.0 s {2}interrupted \(Stepline\.RuntimeStopped\)$/),
      '  ↻ redriven (1) at 2026-11-30T08:00:07.000Z',
      expect.stringMatching(/^ {2}✓ Build /),
    ]);
    expect(lines.join('\n')).not.toContain('…');
  });
});
