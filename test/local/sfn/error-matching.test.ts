import { describe, expect, it } from 'vitest';
import { createEngine, statePath, tokenRecorder, tokenResource } from './helpers.ts';

/**
 * How Retry and Catch match the errors AWS names (Step Functions "Error handling"): `States.Timeout`
 * matches a task's TimeoutSeconds and its HeartbeatSeconds timeouts, `States.TaskFailed` every task
 * failure except those timeouts, and nothing (not even `States.ALL`) matches `States.Runtime`.
 */
const catchTo = (...rules: Array<[string[], string]>) =>
  rules.map(([ErrorEquals, Next]) => ({ ErrorEquals, ResultPath: '$.failure', Next }));

/** One waitForTaskToken task; each state its `Catch` goes to is a Pass state that ends the run. */
function machine(task: Record<string, unknown>) {
  const targets = ((task.Catch ?? []) as Array<{ Next: string }>).map((rule) => rule.Next);
  return {
    StartAt: 'Work',
    States: {
      Work: {
        Type: 'Task',
        Resource: tokenResource,
        Parameters: { 'token.$': '$$.Task.Token', 'value.$': '$.value' },
        End: true,
        ...task,
      },
      ...Object.fromEntries(targets.map((name) => [name, { Type: 'Pass', End: true }])),
    },
  };
}

describe('Retry and Catch match timeouts as AWS does', () => {
  it('States.TaskFailed does not catch a TimeoutSeconds timeout; States.Timeout does', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(
      machine({
        TimeoutSeconds: 1,
        Catch: catchTo([['States.TaskFailed'], 'ByTaskFailed'], [['States.Timeout'], 'ByTimeout']),
      }),
      { [tokenResource]: runner.handler },
    );
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
    expect(statePath(engine.getExecutionHistory(executionArn).events)).toEqual(['Work', 'ByTimeout']);
    expect(JSON.parse(final.output ?? '').failure).toMatchObject({ Error: 'States.Timeout' });
  });

  it('States.Timeout catches a heartbeat timeout, which keeps its own name', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(
      machine({
        HeartbeatSeconds: 1,
        Catch: catchTo([['States.TaskFailed'], 'ByTaskFailed'], [['States.Timeout'], 'ByTimeout']),
      }),
      { [tokenResource]: runner.handler },
      { overrides: { heartbeatSecondsOverride: 0.05 } },
    );
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
    expect(statePath(engine.getExecutionHistory(executionArn).events)).toEqual(['Work', 'ByTimeout']);
    expect(JSON.parse(final.output ?? '').failure).toMatchObject({ Error: 'States.HeartbeatTimeout' });
  });

  it('Retry on States.TaskFailed does not retry a timeout; Retry on States.Timeout does', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(
      machine({
        HeartbeatSeconds: 1,
        Retry: [{ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 3 }],
        Catch: catchTo([['States.ALL'], 'ByAll']),
      }),
      { [tokenResource]: runner.handler },
      { overrides: { heartbeatSecondsOverride: 0.05 } },
    );
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    await engine.waitForExecution(executionArn);
    expect(runner.issued).toHaveLength(1);

    const again = tokenRecorder();
    const retrying = createEngine(
      machine({
        HeartbeatSeconds: 1,
        Retry: [{ ErrorEquals: ['States.Timeout'], MaxAttempts: 2 }],
        Catch: catchTo([['States.ALL'], 'ByAll']),
      }),
      { [tokenResource]: again.handler },
      { overrides: { heartbeatSecondsOverride: 0.05 } },
    );
    const second = await retrying.startExecution({ input: '{"value":1}' });
    await retrying.waitForExecution(second.executionArn);
    expect(again.issued).toHaveLength(3);
  });

  it('States.TaskFailed still catches any other task failure, States.Timeout sent by SendTaskFailure included as a timeout', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(
      machine({
        Catch: catchTo([['States.TaskFailed'], 'ByTaskFailed'], [['States.Timeout'], 'ByTimeout']),
      }),
      { [tokenResource]: runner.handler },
    );
    const first = await engine.startExecution({ name: 'failed', input: '{"value":1}' });
    engine.sendTaskFailure((await runner.next()).token, 'SomethingBroke', 'boom');
    await engine.waitForExecution(first.executionArn);
    expect(statePath(engine.getExecutionHistory(first.executionArn).events)).toEqual([
      'Work',
      'ByTaskFailed',
    ]);

    const second = await engine.startExecution({ name: 'timed-out', input: '{"value":1}' });
    engine.sendTaskFailure((await runner.next()).token, 'States.Timeout', 'gave up');
    await engine.waitForExecution(second.executionArn);
    expect(statePath(engine.getExecutionHistory(second.executionArn).events)).toEqual(['Work', 'ByTimeout']);
  });
});

describe('States.Runtime, as on AWS', () => {
  it('is neither retried nor caught by States.ALL: the execution fails with it', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(
      machine({
        TimeoutSecondsPath: '$.limits.seconds',
        Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 3 }],
        Catch: catchTo([['States.ALL'], 'ByAll']),
      }),
      { [tokenResource]: runner.handler },
    );
    const { executionArn } = await engine.startExecution({
      input: '{"value":1,"limits":{"seconds":"soon"}}',
    });
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(statePath(engine.getExecutionHistory(executionArn).events)).toEqual(['Work']);
    expect(runner.issued).toHaveLength(0);
  });

  it('fails the execution when a task result is not JSON, past a States.ALL catcher', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const engine = createEngine(
      {
        StartAt: 'Work',
        States: {
          Work: {
            Type: 'Task',
            Resource: 'arn:aws:lambda:local:000000000000:function:cyclic',
            Catch: catchTo([['States.ALL'], 'ByAll']),
            End: true,
          },
          ByAll: { Type: 'Pass', End: true },
        },
      },
      { 'arn:aws:lambda:local:000000000000:function:cyclic': async () => cyclic },
    );
    const { executionArn } = await engine.startExecution({ input: '{}' });
    expect(await engine.waitForExecution(executionArn)).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
    });
  });
});
