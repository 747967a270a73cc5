import { describe, expect, it } from 'vitest';
import { LocalStepFunctions, newTaskToken } from '#local/sfn/engine.ts';
import { readHistory } from '#local/sfn/store.ts';
import { LambdaTooManyRequestsError } from '#shared/errors.ts';
import {
  createEngine,
  lambdaResource,
  statePath,
  tempDataDir,
  tokenMachine,
  tokenRecorder,
  tokenResource,
} from './helpers.ts';

describe('LocalStepFunctions task tokens', () => {
  it('hands the task a fresh token in place of $$.Task.Token and uses SendTaskSuccess output as the result', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine({ ResultPath: '$.result' }), {
      [tokenResource]: runner.handler,
    });

    const { executionArn } = await engine.startExecution({ name: 'push-1', input: '{"value":7}' });
    const task = await runner.next();
    engine.sendTaskSuccess(task.token, '{"exitCode":0}');
    const final = await engine.waitForExecution(executionArn);

    expect(task.input).toEqual({ token: task.token, run: 'push-1', value: 7 });
    // Shaped like AWS's: hundreds of characters of standard base64, with `+`, `/` and `=`.
    expect(task.token.length).toBeGreaterThan(600);
    expect(task.token).toMatch(/^[A-Za-z0-9+/]+=*$/);
    for (const char of ['+', '/', '=']) expect(task.token).toContain(char);
    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output ?? '')).toEqual({ value: 7, result: { exitCode: 0 } });
  });

  it('fails the task with the error name given to SendTaskFailure, so Catch matches it', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });

    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    engine.sendTaskFailure((await runner.next()).token, 'BuildFailedError', 'npm run build exited with 2');
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output ?? '').failure).toEqual({
      Error: 'BuildFailedError',
      Cause: 'npm run build exited with 2',
    });
    expect(statePath(engine.getExecutionHistory(executionArn).events)).toEqual(['Work', 'Handled']);
  });

  it('answers TaskTimedOut to a second SendTaskSuccess with the same token', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const { token } = await runner.next();
    engine.sendTaskSuccess(token, '{}');
    await engine.waitForExecution(executionArn);

    expect(() => engine.sendTaskSuccess(token, '{}')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
  });

  it('answers InvalidToken to a malformed token and TaskDoesNotExist to a token it never issued', () => {
    const engine = createEngine(tokenMachine(), { [tokenResource]: tokenRecorder().handler });

    expect(() => engine.sendTaskHeartbeat('not a token')).toThrow(
      expect.objectContaining({ name: 'InvalidToken' }),
    );
    // The short URL-safe tokens of earlier local runtimes are malformed now.
    expect(() => engine.sendTaskHeartbeat('A'.repeat(43))).toThrow(
      expect.objectContaining({ name: 'InvalidToken' }),
    );
    // A token that lost its encoding on the way (`+` read as a space) is malformed too.
    expect(() => engine.sendTaskHeartbeat(newTaskToken().replaceAll('+', ' '))).toThrow(
      expect.objectContaining({ name: 'InvalidToken' }),
    );
    expect(() => engine.sendTaskHeartbeat(newTaskToken())).toThrow(
      expect.objectContaining({ name: 'TaskDoesNotExist' }),
    );
  });

  it('rejects SendTaskSuccess output that is not JSON with InvalidOutput and keeps the task open', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const { token } = await runner.next();

    expect(() => engine.sendTaskSuccess(token, '{oops')).toThrow(
      expect.objectContaining({ name: 'InvalidOutput' }),
    );
    engine.sendTaskSuccess(token, '{}');
    expect((await engine.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
  });

  it('fails the task with States.HeartbeatTimeout and aborts its signal when no heartbeat arrives', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(
      tokenMachine({ HeartbeatSeconds: 1 }),
      { [tokenResource]: runner.handler },
      { overrides: { heartbeatSecondsOverride: 0.05 } },
    );

    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const task = await runner.next();
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.HeartbeatTimeout' });
    expect(task.signal.aborted).toBe(true);
    const timedOut = engine.getExecutionHistory(executionArn).events.find((e) => e.type === 'TaskTimedOut');
    expect(timedOut?.taskTimedOutEventDetails?.error).toBe('States.HeartbeatTimeout');
  });

  it('keeps a task alive while heartbeats arrive more often than HeartbeatSeconds', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(
      tokenMachine({ HeartbeatSeconds: 1 }),
      { [tokenResource]: runner.handler },
      { overrides: { heartbeatSecondsOverride: 0.5 } },
    );
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const { token } = await runner.next();

    for (let beat = 0; beat < 15; beat += 1) {
      engine.sendTaskHeartbeat(token);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    engine.sendTaskSuccess(token, '{}');

    expect((await engine.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
  });

  it('fails the task with States.Timeout after its TimeoutSeconds', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine({ TimeoutSeconds: 1 }), { [tokenResource]: runner.handler });

    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const task = await runner.next();
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    expect(task.signal.aborted).toBe(true);
  });

  it('fails the task with the error its handler throws while launching', async () => {
    class FakeLaunchError extends Error {
      override name = 'BuildFailedError';
    }
    const engine = createEngine(tokenMachine(), {
      [tokenResource]: async () => {
        throw new FakeLaunchError('fake runner could not start');
      },
    });

    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const final = await engine.waitForExecution(executionArn);

    expect(JSON.parse(final.output ?? '').failure).toEqual({
      Error: 'BuildFailedError',
      Cause: 'fake runner could not start',
    });
  });
});

describe('LocalStepFunctions plain tasks', () => {
  it('retries a task whose handler throws Lambda.TooManyRequestsException, as the Retry says', async () => {
    let calls = 0;
    const engine = createEngine(
      {
        StartAt: 'Echo',
        States: {
          Echo: {
            Type: 'Task',
            Resource: lambdaResource,
            Retry: [{ ErrorEquals: ['Lambda.TooManyRequestsException'], MaxAttempts: 2 }],
            End: true,
          },
        },
      },
      {
        [lambdaResource]: async (input) => {
          calls += 1;
          if (calls < 3) throw new LambdaTooManyRequestsError('fake throttle');
          return { echoed: input };
        },
      },
    );

    const { executionArn } = await engine.startExecution({ input: '{"a":1}' });
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output ?? '')).toEqual({ echoed: { a: 1 } });
    const types = engine.getExecutionHistory(executionArn).events.map((e) => e.type);
    expect(types.filter((t) => t === 'LambdaFunctionFailed')).toHaveLength(2);
  });

  it('runs Wait states for the overridden time and records Pass, Wait and Choice states', async () => {
    const engine = createEngine(
      {
        StartAt: 'Start',
        States: {
          Start: { Type: 'Pass', Result: { n: 1 }, Next: 'Pause' },
          Pause: { Type: 'Wait', Seconds: 3600, Next: 'Decide' },
          Decide: {
            Type: 'Choice',
            Choices: [{ Variable: '$.n', NumericEquals: 1, Next: 'Yes' }],
            Default: 'No',
          },
          Yes: { Type: 'Succeed' },
          No: { Type: 'Fail', Error: 'Unexpected' },
        },
      },
      {},
    );

    const { executionArn } = await engine.startExecution({});
    await engine.waitForExecution(executionArn);

    expect(engine.getExecutionHistory(executionArn).events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'PassStateEntered',
      'PassStateExited',
      'WaitStateEntered',
      'WaitStateExited',
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
  });
});

describe('LocalStepFunctions executions', () => {
  it('refuses a definition with a Task resource that has no handler, naming the state and resource', () => {
    expect(
      () =>
        new LocalStepFunctions({
          dataDir: tempDataDir(),
          stateMachineName: 'm',
          definition: JSON.stringify(tokenMachine()),
          tasks: {},
        }),
    ).toThrow(`state "Work" uses resource "${tokenResource}"`);
  });

  it('stops a running execution as ABORTED and aborts the signal of its running task', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const task = await runner.next();

    await engine.stopExecution(executionArn, { error: 'Cancelled', cause: 'a newer push superseded it' });
    const final = engine.describeExecution(executionArn);

    expect(final).toMatchObject({
      status: 'ABORTED',
      error: 'Cancelled',
      cause: 'a newer push superseded it',
    });
    expect(task.signal.aborted).toBe(true);
    expect(engine.getExecutionHistory(executionArn).events.at(-1)?.type).toBe('ExecutionAborted');
    expect(() => engine.sendTaskSuccess(task.token, '{}')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
  });

  it('returns the running execution again for the same name and the same input', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });

    const first = await engine.startExecution({ name: 'github-abc', input: '{"value":1}' });
    const second = await engine.startExecution({ name: 'github-abc', input: '{"value":1}' });

    expect(second).toEqual({
      executionArn: first.executionArn,
      startDate: first.startDate,
      alreadyStarted: true,
    });
    expect(first.alreadyStarted).toBe(false);
    expect(engine.listExecutions().executions).toHaveLength(1);
  });

  it('answers ExecutionAlreadyExists for the same name with a different input', async () => {
    const engine = createEngine(tokenMachine(), { [tokenResource]: tokenRecorder().handler });
    await engine.startExecution({ name: 'github-abc', input: '{"value":1}' });

    await expect(engine.startExecution({ name: 'github-abc', input: '{"value":2}' })).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
  });

  it('answers ExecutionAlreadyExists for the name of a closed execution, even with the same input', async () => {
    const engine = createEngine({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, {});
    const { executionArn } = await engine.startExecution({ name: 'once', input: '{}' });
    await engine.waitForExecution(executionArn);

    await expect(engine.startExecution({ name: 'once', input: '{}' })).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
  });

  it('answers InvalidName to a name with a forbidden character and InvalidExecutionInput to bad JSON', async () => {
    const engine = createEngine({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, {});

    await expect(engine.startExecution({ name: 'a/b' })).rejects.toMatchObject({ name: 'InvalidName' });
    await expect(engine.startExecution({ name: 'x'.repeat(81) })).rejects.toMatchObject({
      name: 'InvalidName',
    });
    await expect(engine.startExecution({ input: '{nope' })).rejects.toMatchObject({
      name: 'InvalidExecutionInput',
    });
  });

  it('runs several executions at once, each finishing with its own task result', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine({ ResultPath: '$.result' }), {
      [tokenResource]: runner.handler,
    });

    const arns = await Promise.all(
      [1, 2, 3].map(
        async (value) => (await engine.startExecution({ input: JSON.stringify({ value }) })).executionArn,
      ),
    );
    const tasks = await Promise.all([runner.next(), runner.next(), runner.next()]);
    for (const task of [...tasks].reverse())
      engine.sendTaskSuccess(task.token, JSON.stringify({ for: (task.input as { value: number }).value }));
    const finals = await Promise.all(arns.map((arn) => engine.waitForExecution(arn)));

    expect(finals.map((f) => JSON.parse(f.output ?? '').result.for)).toEqual([1, 2, 3]);
  });

  it('lists executions newest first, filters by status and pages with nextToken', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    for (const name of ['a', 'b', 'c']) {
      await engine.startExecution({ name, input: '{"value":1}' });
      await runner.next();
    }
    await engine.stopExecution(engine.executionArnOf('b'));

    const firstPage = engine.listExecutions({ maxResults: 2 });
    const secondPage = engine.listExecutions({ maxResults: 2, nextToken: firstPage.nextToken ?? '' });

    expect([...firstPage.executions, ...secondPage.executions].map((e) => e.name)).toEqual(['c', 'b', 'a']);
    expect(secondPage.nextToken).toBeUndefined();
    expect(engine.listExecutions({ statusFilter: 'ABORTED' }).executions.map((e) => e.name)).toEqual(['b']);
  });

  it('answers ExecutionDoesNotExist for an execution it never started', () => {
    const engine = createEngine({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, {});

    expect(() => engine.describeExecution(engine.executionArnOf('never'))).toThrow(
      expect.objectContaining({ name: 'ExecutionDoesNotExist' }),
    );
  });

  it('marks its running executions FAILED with Stepline.RuntimeStopped when closed', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    const { executionArn } = await engine.startExecution({ name: 'push-2', input: '{"value":1}' });
    const task = await runner.next();

    await engine.close();

    expect(engine.describeExecution(executionArn)).toMatchObject({
      status: 'FAILED',
      error: 'Stepline.RuntimeStopped',
    });
    expect(task.signal.aborted).toBe(true);
    expect(readHistory(engine.dataDir, 'push-2').at(-1)?.executionFailedEventDetails?.error).toBe(
      'Stepline.RuntimeStopped',
    );
  });
});

describe('LocalStepFunctions history', () => {
  it('returns the history newest first and without data when asked', async () => {
    const engine = createEngine({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, {});
    const { executionArn } = await engine.startExecution({ input: '{"secret":1}' });
    await engine.waitForExecution(executionArn);

    const { events } = engine.getExecutionHistory(executionArn, {
      reverseOrder: true,
      includeExecutionData: false,
    });

    expect(events[0]?.type).toBe('ExecutionSucceeded');
    expect(events.at(-1)?.type).toBe('ExecutionStarted');
    expect(JSON.stringify(events)).not.toContain('secret');
  });

  it('emits each history event to listeners as it is recorded, ending with the final one', async () => {
    const engine = createEngine({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, {});
    const seen: string[] = [];
    engine.on('event', (_arn, event) => seen.push(event.type));

    const { executionArn } = await engine.startExecution({});
    await engine.waitForExecution(executionArn);

    expect(seen).toEqual(['ExecutionStarted', 'PassStateEntered', 'PassStateExited', 'ExecutionSucceeded']);
  });

  it('records the task events of a waitForTaskToken task between its state entered and exited events', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    engine.sendTaskSuccess((await runner.next()).token, '{"ok":true}');
    await engine.waitForExecution(executionArn);

    const events = engine.getExecutionHistory(executionArn).events;

    expect(events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskSucceeded',
      'TaskStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    expect(events.map((e) => e.id)).toEqual(events.map((_e, index) => index + 1));
    expect(events[2]?.taskScheduledEventDetails).toMatchObject({
      resourceType: 'ecs',
      resource: 'runTask.waitForTaskToken',
    });
  });
});
