import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { TaskHandler } from '#local/sfn/engine.ts';
import { executionsDir } from '#local/sfn/store.ts';
import { createEngine, tempDataDir, tokenMachine, tokenRecorder, tokenResource } from './helpers.ts';

function spyLogger() {
  return { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

/** Puts a directory where a store file is, so every later write to that file throws (as on a full disk). */
function breakStoreFile(path: string): void {
  rmSync(path, { force: true });
  mkdirSync(path);
}

/** Runs `handler` after breaking the store file that `fileOf(executionName)` names. */
function breakingFirst(fileOf: (executionName: string) => string, handler: TaskHandler): TaskHandler {
  return async (input, ctx) => {
    breakStoreFile(fileOf(ctx.executionName));
    return handler(input, ctx);
  };
}

describe('LocalStepFunctions when the store cannot be written', () => {
  it('still ends an execution whose final record cannot be written, so waitForExecution returns', async () => {
    const dataDir = tempDataDir();
    const runner = tokenRecorder();
    const recordOf = (name: string) => join(executionsDir(dataDir), `${name}.json`);
    const engine = createEngine(
      tokenMachine(),
      { [tokenResource]: breakingFirst(recordOf, runner.handler) },
      { dataDir, logger: spyLogger() },
    );

    const { executionArn } = await engine.startExecution({ name: 'push-1', input: '{"value":1}' });
    engine.sendTaskSuccess((await runner.next()).token, '{}');
    const final = await engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
    expect(engine.runningExecutionArns()).toEqual([]);
  });

  it('logs a final record that cannot be written instead of rejecting unhandled', async () => {
    const dataDir = tempDataDir();
    const runner = tokenRecorder();
    const logger = spyLogger();
    const recordOf = (name: string) => join(executionsDir(dataDir), `${name}.json`);
    const engine = createEngine(
      tokenMachine(),
      { [tokenResource]: breakingFirst(recordOf, runner.handler) },
      { dataDir, logger },
    );

    const { executionArn } = await engine.startExecution({ name: 'push-1', input: '{"value":1}' });
    engine.sendTaskSuccess((await runner.next()).token, '{}');
    await engine.waitForExecution(executionArn);

    expect(logger.error).toHaveBeenCalledWith(
      expect.stringContaining('cannot record the end of an execution'),
      expect.objectContaining({ executionArn, status: 'SUCCEEDED' }),
    );
  });

  it('fails a task on its heartbeat timeout when the history cannot be written, logging the write failure', async () => {
    const dataDir = tempDataDir();
    const runner = tokenRecorder();
    const logger = spyLogger();
    const historyOf = (name: string) => join(executionsDir(dataDir), `${name}.history.jsonl`);
    const engine = createEngine(
      tokenMachine({ HeartbeatSeconds: 1 }),
      { [tokenResource]: breakingFirst(historyOf, runner.handler) },
      { dataDir, logger, overrides: { heartbeatSecondsOverride: 0.05 } },
    );

    const { executionArn } = await engine.startExecution({ name: 'push-1', input: '{"value":1}' });
    const task = await runner.next();
    const final = await engine.waitForExecution(executionArn);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.HeartbeatTimeout' });
    expect(task.signal.aborted).toBe(true);
    expect(logger.error).toHaveBeenCalledWith(
      'recording a task timeout failed',
      expect.objectContaining({ executionArn, stateName: 'Work' }),
    );
  });
});
