import { describe, expect, it } from 'vitest';
import { maxHistoryEvents } from '#local/sfn/engine.ts';
import { createEngine, lambdaResource, tokenRecorder, tokenResource } from './helpers.ts';

/** A machine that never ends: a Pass and a Choice that sends it back, 4 history events a turn. */
const spinning = {
  StartAt: 'Spin',
  States: {
    Spin: { Type: 'Pass', Next: 'Loop' },
    Loop: {
      Type: 'Choice',
      Choices: [{ Variable: '$.spin', BooleanEquals: true, Next: 'Spin' }],
      Default: 'Done',
    },
    Done: { Type: 'Succeed' },
  },
};

/** `count` Pass states in a row, then Succeed: 1 + 2 × count + 2 + 1 history events. */
function passes(count: number) {
  const states: Record<string, unknown> = {};
  for (let i = 0; i < count; i++)
    states[`Step${i}`] = { Type: 'Pass', Next: i + 1 < count ? `Step${i + 1}` : 'Done' };
  states.Done = { Type: 'Succeed' };
  return { StartAt: 'Step0', States: states };
}

describe('LocalStepFunctions history cap', () => {
  it('is 25,000 events, as on AWS', () => {
    expect(maxHistoryEvents).toBe(25_000);
  });

  it('fails a looping execution with States.Runtime at event 25,000, which is its ExecutionFailed', async () => {
    const engine = createEngine(spinning, {});

    const { executionArn } = await engine.startExecution({ input: '{"spin":true}' });
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('FAILED');
    expect(final.error).toBe('States.Runtime');
    expect(final.cause).toBe('The execution reached the maximum number of history events (25000).');
    const { events } = engine.getExecutionHistory(executionArn, { reverseOrder: true, maxResults: 2 });
    expect(events[0]).toMatchObject({
      id: 25_000,
      previousEventId: 24_999,
      type: 'ExecutionFailed',
      executionFailedEventDetails: {
        error: 'States.Runtime',
        cause: 'The execution reached the maximum number of history events (25000).',
      },
    });
    expect(events[1]?.id).toBe(24_999);
    expect(events[1]?.type).not.toMatch(/^Execution/);
    expect(engine.describeExecution(executionArn).status).toBe('FAILED');
  }, 120_000);

  it('counts to the event: a success that is event number N of a cap of N succeeds, one that would be N + 1 fails', async () => {
    const events = 1 + 2 * 3 + 2 + 1;
    const atCap = createEngine(passes(3), {}, { overrides: { historyEventLimit: events } });
    const pastCap = createEngine(passes(3), {}, { overrides: { historyEventLimit: events - 1 } });

    const fits = await atCap.startExecution({ input: '{}' });
    const overflows = await pastCap.startExecution({ input: '{}' });

    expect(await atCap.waitForExecution(fits.executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    const fitting = atCap.getExecutionHistory(fits.executionArn).events;
    expect(fitting).toHaveLength(events);
    expect(fitting.at(-1)?.type).toBe('ExecutionSucceeded');
    expect(await pastCap.waitForExecution(overflows.executionArn)).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
      cause: `The execution reached the maximum number of history events (${events - 1}).`,
    });
    const overflowing = pastCap.getExecutionHistory(overflows.executionArn).events;
    expect(overflowing).toHaveLength(events - 1);
    expect(overflowing.at(-1)).toMatchObject({ id: events - 1, type: 'ExecutionFailed' });
  });

  it('ends a task that waits for its token when the history reaches the cap, and its token dies', async () => {
    const recorder = tokenRecorder();
    const machine = {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            {
              StartAt: 'Wait',
              States: {
                Wait: {
                  Type: 'Task',
                  Resource: tokenResource,
                  Parameters: { 'token.$': '$$.Task.Token' },
                  End: true,
                },
              },
            },
            {
              // Spins only once the token task has started.
              StartAt: 'AfterLaunch',
              States: {
                AfterLaunch: { Type: 'Task', Resource: lambdaResource, Next: 'Spin' },
                ...spinning.States,
              },
            },
          ],
          End: true,
        },
      },
    };
    const launched = recorder.next();
    const engine = createEngine(
      machine,
      {
        [tokenResource]: recorder.handler,
        [lambdaResource]: async () => launched.then(() => ({ spin: true })),
      },
      { overrides: { historyEventLimit: 200 } },
    );

    const { executionArn } = await engine.startExecution({ input: '{"spin":true}' });
    const issued = await launched;
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(issued.signal.aborted).toBe(true);
    expect(() => engine.sendTaskSuccess(issued.token, '{}')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
    const history = engine.getExecutionHistory(executionArn, { maxResults: 1000 }).events;
    expect(history).toHaveLength(200);
    expect(history.at(-1)?.type).toBe('ExecutionFailed');
  });
});
