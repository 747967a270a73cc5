import { describe, expect, it } from 'vitest';
import { maxPayloadBytes } from '#shared/payload-budget.ts';
import {
  createEngine,
  lambdaResource,
  statePath,
  tokenMachine,
  tokenRecorder,
  tokenResource,
} from './helpers.ts';

/** JSON text of about `bytes` bytes. */
const blob = (bytes: number) => 'x'.repeat(bytes);

/** A Lambda task whose every failure `States.ALL` sends to `Caught`. */
function caughtMachine(task: Record<string, unknown> = {}) {
  return {
    StartAt: 'Work',
    States: {
      Work: {
        Type: 'Task',
        Resource: lambdaResource,
        ResultPath: '$.result',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Caught' }],
        Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 2 }],
        Next: 'Done',
        ...task,
      },
      Caught: { Type: 'Pass', End: true },
      Done: { Type: 'Succeed' },
    },
  };
}

describe('LocalStepFunctions data limit', () => {
  it('fails the execution with States.DataLimitExceeded, past Retry and a States.ALL catch, when a Lambda returns over 256 KiB', async () => {
    let calls = 0;
    const engine = createEngine(caughtMachine(), {
      [lambdaResource]: async () => {
        calls++;
        return { text: blob(maxPayloadBytes) };
      },
    });

    const { executionArn } = await engine.startExecution({ input: '{}' });
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('FAILED');
    expect(final.error).toBe('States.DataLimitExceeded');
    expect(final.cause).toContain("'Work' returned a result");
    expect(calls).toBe(1);
    expect(statePath(engine.getExecutionHistory(executionArn).events)).not.toContain('Caught');
  });

  it('fails the execution when a state output passes 256 KiB after ResultPath, though each part is smaller', async () => {
    const half = blob(maxPayloadBytes / 2);
    const engine = createEngine(caughtMachine(), { [lambdaResource]: async () => ({ text: half }) });

    const { executionArn } = await engine.startExecution({ input: JSON.stringify({ text: half }) });
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(final.cause).toContain("'Work' has an output");
  });

  it('fails the execution when Parameters build a task input over 256 KiB', async () => {
    const half = blob(maxPayloadBytes / 2 + 10);
    let called = false;
    const engine = createEngine(caughtMachine({ Parameters: { 'a.$': '$.text', 'b.$': '$.text' } }), {
      [lambdaResource]: async () => {
        called = true;
        return {};
      },
    });

    const { executionArn } = await engine.startExecution({ input: JSON.stringify({ text: half }) });
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(final.cause).toContain("'Work' has parameters");
    expect(called).toBe(false);
  });

  it('refuses SendTaskSuccess with an output over 256 KiB, as the API does, and keeps the task open', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    const { executionArn } = await engine.startExecution({ input: '{"value":1}' });
    const { token } = await runner.next();

    expect(() => engine.sendTaskSuccess(token, JSON.stringify(blob(maxPayloadBytes)))).toThrow(
      expect.objectContaining({ name: 'ValidationException' }),
    );
    engine.sendTaskSuccess(token, '{}');
    expect((await engine.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
  });

  it('refuses an execution input over 256 KiB', async () => {
    const engine = createEngine(caughtMachine(), { [lambdaResource]: async () => ({}) });

    await expect(
      engine.startExecution({ input: JSON.stringify({ text: blob(maxPayloadBytes) }) }),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('lets data of exactly 256 KiB through', async () => {
    const engine = createEngine(caughtMachine({ ResultPath: null }), {
      [lambdaResource]: async () => ({}),
    });
    const input = JSON.stringify({ text: blob(maxPayloadBytes - '{"text":""}'.length) });

    const { executionArn } = await engine.startExecution({ input });
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
  });
});
