import { describe, expect, it } from 'vitest';
import { createEngine, tokenMachine, tokenRecorder, tokenResource } from './helpers.ts';

/** A waitForTaskToken task whose timeout comes from its input, as RequestApproval's does. */
const machine = tokenMachine({
  TimeoutSecondsPath: '$.limits.approvalSeconds',
  Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.failure', Next: 'Handled' }],
});

describe('TimeoutSecondsPath on a waitForTaskToken task', () => {
  it("reads the timeout from the state's input, fails the task with States.Timeout and retires its token", async () => {
    const runner = tokenRecorder();
    const engine = createEngine(machine, { [tokenResource]: runner.handler });

    const { executionArn } = await engine.startExecution({
      input: '{"value":1,"limits":{"approvalSeconds":1}}',
    });
    const task = await runner.next();
    const final = await engine.waitForExecution(executionArn);
    const events = engine.getExecutionHistory(executionArn, { maxResults: 100 }).events;

    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output!).failure).toMatchObject({ Error: 'States.Timeout' });
    expect(events.find((e) => e.type === 'TaskScheduled')).toMatchObject({
      taskScheduledEventDetails: { timeoutInSeconds: 1 },
    });
    expect(events.map((e) => e.type)).toContain('TaskTimedOut');
    expect(task.signal.aborted).toBe(true);
    expect(() => engine.sendTaskSuccess(task.token, '{}')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
    expect(() => engine.sendTaskFailure(task.token, 'ApprovalRejectedError')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
  });

  it('lets a decision in before the timeout win, and then the timeout does nothing', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(machine, { [tokenResource]: runner.handler });

    const { executionArn } = await engine.startExecution({
      input: '{"value":1,"limits":{"approvalSeconds":2}}',
    });
    const task = await runner.next();
    engine.sendTaskSuccess(task.token, '{"decision":"approve"}');
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output!)).not.toHaveProperty('failure');
    expect(() => engine.sendTaskSuccess(task.token, '{}')).toThrow(
      expect.objectContaining({ name: 'TaskTimedOut' }),
    );
  });

  it('fails with States.Runtime when the path does not lead to a positive integer', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(machine, { [tokenResource]: runner.handler });

    const { executionArn } = await engine.startExecution({ input: '{"value":1,"limits":{}}' });
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(final.cause).toContain('$.limits.approvalSeconds');
    expect(runner.issued).toHaveLength(0);
  });
});
