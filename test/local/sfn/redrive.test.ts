import { spawnSync } from 'node:child_process';
import {
  DescribeExecutionCommand,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { startSfnApiServer } from '#local/sfn/api-server.ts';
import { appendHistoryEvent, readStoredExecution, writeStoredExecution } from '#local/sfn/store.ts';
import { testCredentials } from '../../helpers/local-auth.ts';
import {
  createEngine,
  lambdaResource,
  statePath,
  tempDataDir,
  tokenMachine,
  tokenRecorder,
  tokenResource,
} from './helpers.ts';

const firstResource = 'arn:aws:lambda:local:000000000000:function:first';

/** `First` (a Lambda) then `Second` (a Lambda) then `Done`; `Second` puts its result at `$.second`. */
const twoSteps = {
  StartAt: 'First',
  States: {
    First: { Type: 'Task', Resource: firstResource, ResultPath: '$.first', Next: 'Second' },
    Second: { Type: 'Task', Resource: lambdaResource, ResultPath: '$.second', Next: 'Done' },
    Done: { Type: 'Succeed' },
  },
};

/** Handlers for {@link twoSteps}: `Second` fails the first time it runs. */
function flakySecond() {
  const calls = { first: [] as unknown[], second: [] as unknown[] };
  return {
    calls,
    tasks: {
      [firstResource]: async (input: unknown) => {
        calls.first.push(input);
        return { built: calls.first.length };
      },
      [lambdaResource]: async (input: unknown) => {
        calls.second.push(input);
        if (calls.second.length === 1) throw Object.assign(new Error('flaky'), { name: 'FlakyError' });
        return { deployed: true };
      },
    },
  };
}

describe('LocalStepFunctions redrive', () => {
  it('reruns only the failed state, with the input it had, under the same ARN; the history goes on with ExecutionRedriven', async () => {
    const { calls, tasks } = flakySecond();
    const engine = createEngine(twoSteps, tasks);
    const { executionArn, startDate } = await engine.startExecution({ name: 'flaky', input: '{"n":1}' });
    expect(await engine.waitForExecution(executionArn)).toMatchObject({
      status: 'FAILED',
      error: 'FlakyError',
    });

    const { redriveDate } = await engine.redriveExecution(executionArn);
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    expect(JSON.parse(final.output ?? '')).toEqual({ n: 1, first: { built: 1 }, second: { deployed: true } });
    expect(calls.first).toHaveLength(1);
    expect(calls.second).toEqual([
      { n: 1, first: { built: 1 } },
      { n: 1, first: { built: 1 } },
    ]);
    const described = engine.describeExecution(executionArn);
    expect(described).toMatchObject({
      executionArn,
      status: 'SUCCEEDED',
      input: '{"n":1}',
      redriveCount: 1,
      redriveDate,
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven',
    });
    expect(described.startDate).toEqual(startDate);
    const { events } = engine.getExecutionHistory(executionArn, { maxResults: 1000 });
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => index + 1));
    expect(events.map((event) => event.type).filter((type) => type.startsWith('Execution'))).toEqual([
      'ExecutionStarted',
      'ExecutionFailed',
      'ExecutionRedriven',
      'ExecutionSucceeded',
    ]);
    expect(events.find((event) => event.type === 'ExecutionRedriven')).toMatchObject({
      executionRedrivenEventDetails: { redriveCount: 1 },
    });
    expect(statePath(events)).toEqual(['First', 'Second', 'Second', 'Done']);
    expect(engine.listExecutions().executions[0]).toMatchObject({
      name: 'flaky',
      redriveCount: 1,
      redriveDate,
    });
  });

  it('refuses a SUCCEEDED or a RUNNING execution with ExecutionNotRedrivable, saying why', async () => {
    const recorder = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: recorder.handler });
    const running = await engine.startExecution({ name: 'running', input: '{"value":1}' });
    const done = await engine.startExecution({ name: 'done', input: '{"value":2}' });
    await recorder.next();
    const second = await recorder.next();
    engine.sendTaskSuccess(second.token, '{}');
    await engine.waitForExecution(done.executionArn);

    await expect(engine.redriveExecution(done.executionArn)).rejects.toMatchObject({
      name: 'ExecutionNotRedrivable',
      message: 'Execution is SUCCEEDED and cannot be redriven',
    });
    await expect(engine.redriveExecution(running.executionArn)).rejects.toMatchObject({
      name: 'ExecutionNotRedrivable',
      message: 'Execution is RUNNING and cannot be redriven',
    });
    await expect(engine.redriveExecution(engine.executionArnOf('never'))).rejects.toMatchObject({
      name: 'ExecutionDoesNotExist',
    });
  });

  it('refuses an execution that stopped more than 14 days ago, and DescribeExecution says it is not redrivable', async () => {
    const dataDir = tempDataDir();
    const engine = createEngine(twoSteps, flakySecond().tasks, { dataDir });
    const old = new Date(Date.now() - 15 * 24 * 3600 * 1000);
    const name = 'old-failure';
    writeStoredExecution(dataDir, {
      name,
      executionArn: engine.executionArnOf(name),
      stateMachineArn: engine.stateMachineArn,
      status: 'FAILED',
      input: '{}',
      error: 'FlakyError',
      startDate: old.toISOString(),
      stopDate: old.toISOString(),
      ownerPid: process.pid,
      ownerId: 'an-engine-long-gone',
    });
    appendHistoryEvent(dataDir, name, {
      id: 1,
      previousEventId: 0,
      timestamp: old,
      type: 'ExecutionStarted',
    });
    appendHistoryEvent(dataDir, name, { id: 2, previousEventId: 1, timestamp: old, type: 'ExecutionFailed' });

    await expect(engine.redriveExecution(engine.executionArnOf(name))).rejects.toMatchObject({
      name: 'ExecutionNotRedrivable',
      message: 'Execution redrivable period exceeded',
    });
    expect(engine.describeExecution(engine.executionArnOf(name))).toMatchObject({
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution redrivable period exceeded',
    });
  });

  it('refuses an execution whose history has no room for ExecutionRedriven and one more event', async () => {
    const spin = {
      StartAt: 'Spin',
      States: {
        Spin: { Type: 'Pass', Next: 'Loop' },
        Loop: {
          Type: 'Choice',
          Choices: [{ Variable: '$.spin', BooleanEquals: true, Next: 'Spin' }],
          Default: 'End',
        },
        End: { Type: 'Succeed' },
      },
    };
    const engine = createEngine(spin, {}, { overrides: { historyEventLimit: 50 } });
    const { executionArn } = await engine.startExecution({ input: '{"spin":true}' });
    await engine.waitForExecution(executionArn);

    await expect(engine.redriveExecution(executionArn)).rejects.toMatchObject({
      name: 'ExecutionNotRedrivable',
      message: 'Execution history event limit exceeded',
    });
  });

  it('reruns an ABORTED task that waited for its token with a new token; the old token is dead', async () => {
    const recorder = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: recorder.handler });
    const { executionArn } = await engine.startExecution({ name: 'stopped', input: '{"value":7}' });
    const before = await recorder.next();
    await engine.stopExecution(executionArn, { error: 'Stopped', cause: 'by hand' });

    await engine.redriveExecution(executionArn);
    const after = await recorder.next();

    expect(after.token).not.toBe(before.token);
    expect(after.input).toMatchObject({ token: after.token, run: 'stopped', value: 7 });
    expect(() => engine.sendTaskSuccess(before.token, '{}')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
    engine.sendTaskSuccess(after.token, '{"ok":true}');
    expect(await engine.waitForExecution(executionArn)).toMatchObject({
      status: 'SUCCEEDED',
      redriveCount: 1,
    });
    const stored = readStoredExecution(engine.dataDir, 'stopped');
    expect(stored).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    expect(stored?.error).toBeUndefined();
  });

  it('answers a repeated client token with the same redrive instead of redriving again', async () => {
    const recorder = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: recorder.handler });
    const { executionArn } = await engine.startExecution({ name: 'idem', input: '{"value":1}' });
    await recorder.next();
    await engine.stopExecution(executionArn);

    const first = await engine.redriveExecution(executionArn, { clientToken: 'retry-1' });
    const again = await engine.redriveExecution(executionArn, { clientToken: 'retry-1' });

    expect(again.redriveDate).toEqual(first.redriveDate);
    expect(engine.describeExecution(executionArn).redriveCount).toBe(1);
  });

  it('redrives after a crash an execution left waiting in the selected state, with a new token, and leaves the others FAILED', async () => {
    const dataDir = tempDataDir();
    const recorder = tokenRecorder();
    const approvalMachine = {
      StartAt: 'RequestApproval',
      States: {
        RequestApproval: {
          Type: 'Task',
          Resource: tokenResource,
          Parameters: { 'token.$': '$$.Task.Token', 'run.$': '$$.Execution.Name', 'value.$': '$.value' },
          End: true,
        },
      },
    };
    // A serve that was killed: its pid is gone, its executions still say RUNNING.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    const arnOf = (name: string) => `arn:aws:states:local:000000000000:execution:test-machine:${name}`;
    const started = new Date();
    for (const [name, state] of [
      ['waiting', 'RequestApproval'],
      ['early', undefined],
    ] as const) {
      writeStoredExecution(dataDir, {
        name,
        executionArn: arnOf(name),
        stateMachineArn: 'arn:aws:states:local:000000000000:stateMachine:test-machine',
        status: 'RUNNING',
        input: '{"value":3}',
        startDate: started.toISOString(),
        ownerPid: deadPid,
        ownerId: 'killed-engine',
      });
      appendHistoryEvent(dataDir, name, {
        id: 1,
        previousEventId: 0,
        timestamp: started,
        type: 'ExecutionStarted',
      });
      if (state)
        appendHistoryEvent(dataDir, name, {
          id: 2,
          previousEventId: 1,
          timestamp: started,
          type: 'TaskStateEntered',
          stateEnteredEventDetails: { name: state, input: '{"value":3}' },
        });
    }

    const engine = createEngine(approvalMachine, { [tokenResource]: recorder.handler }, { dataDir });
    expect(engine.describeExecution(arnOf('waiting'))).toMatchObject({
      status: 'FAILED',
      error: 'Stepline.RuntimeStopped',
    });
    const redriven = await engine.redriveStoppedByRuntime(
      ({ stateName, name }) => stateName === 'RequestApproval' && name === 'waiting',
    );
    const issued = await recorder.next();

    expect(redriven).toEqual([arnOf('waiting')]);
    expect(issued.input).toMatchObject({ token: issued.token, run: 'waiting', value: 3 });
    engine.sendTaskSuccess(issued.token, '{"decision":"approve"}');
    expect(await engine.waitForExecution(arnOf('waiting'))).toMatchObject({
      status: 'SUCCEEDED',
      redriveCount: 1,
    });
    expect(engine.describeExecution(arnOf('early'))).toMatchObject({ status: 'FAILED', redriveCount: 0 });
    const ids = engine
      .getExecutionHistory(arnOf('waiting'))
      .events.map((event) => `${event.id} ${event.type}`);
    expect(ids.slice(0, 5)).toEqual([
      '1 ExecutionStarted',
      '2 TaskStateEntered',
      '3 ExecutionFailed',
      '4 ExecutionRedriven',
      '5 TaskStateEntered',
    ]);
  });

  it('serves RedriveExecution to the real SDK, with the redrive fields in DescribeExecution and the history', async () => {
    const { tasks } = flakySecond();
    const engine = createEngine(twoSteps, tasks);
    const server = await startSfnApiServer(engine, { credentials: testCredentials });
    const sfn = new SFNClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: testCredentials,
      maxAttempts: 1,
    });
    try {
      const { executionArn } = await engine.startExecution({ name: 'via-sdk', input: '{}' });
      await engine.waitForExecution(executionArn);
      expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
        status: 'FAILED',
        redriveCount: 0,
        redriveStatus: 'REDRIVABLE',
      });

      const { redriveDate } = await sfn.send(new RedriveExecutionCommand({ executionArn }));
      await engine.waitForExecution(executionArn);

      expect(redriveDate).toBeInstanceOf(Date);
      expect(await sfn.send(new DescribeExecutionCommand({ executionArn }))).toMatchObject({
        status: 'SUCCEEDED',
        redriveCount: 1,
        redriveDate,
        redriveStatus: 'NOT_REDRIVABLE',
        redriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven',
      });
      const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
      expect(history.events?.find((event) => event.type === 'ExecutionRedriven')).toMatchObject({
        executionRedrivenEventDetails: { redriveCount: 1 },
      });
      await expect(sfn.send(new RedriveExecutionCommand({ executionArn }))).rejects.toBeInstanceOf(
        ExecutionNotRedrivable,
      );
    } finally {
      sfn.destroy();
      await server.close();
    }
  });
});
