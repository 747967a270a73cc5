import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, vi } from 'vitest';
import { LocalStepFunctions, type LocalStepFunctionsOptions, type TaskHandler } from '#local/sfn/engine.ts';

export const tokenResource = 'arn:aws:states:::ecs:runTask.waitForTaskToken';
export const lambdaResource = 'arn:aws:lambda:local:000000000000:function:fake-echo';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh data directory, removed after the test. */
export function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stepline-sfn-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An engine on a fresh data directory, closed after the test. */
export function createEngine(
  definition: object,
  tasks: Record<string, TaskHandler>,
  options: Partial<LocalStepFunctionsOptions> = {},
): LocalStepFunctions {
  const engine = new LocalStepFunctions({
    dataDir: options.dataDir ?? tempDataDir(),
    stateMachineName: 'test-machine',
    definition: JSON.stringify(definition),
    tasks,
    ...options,
    overrides: { waitTimeOverrides: 0, retryIntervalOverrides: 0, ...options.overrides },
  });
  cleanups.push(() => engine.close());
  return engine;
}

/**
 * Records the task tokens an engine hands to its `.waitForTaskToken` handler, so a test can play
 * the runner's part. `next()` resolves with the next token issued.
 */
export function tokenRecorder() {
  const issued: Array<{ token: string; input: unknown; signal: AbortSignal; stateName: string }> = [];
  const waiters: Array<(entry: (typeof issued)[number]) => void> = [];
  let taken = 0;
  const handler: TaskHandler = async (input, ctx) => {
    const entry = { token: ctx.taskToken ?? '', input, signal: ctx.signal, stateName: ctx.stateName };
    // Like a real runner, the fake gets its token only once the launch has returned.
    setImmediate(() => {
      issued.push(entry);
      waiters.shift()?.(entry);
    });
    return { launched: true };
  };
  return {
    handler,
    issued,
    next(): Promise<(typeof issued)[number]> {
      const ready = issued[taken];
      taken += 1;
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/** A one-task machine whose task waits for a token; `Catch` sends named errors to `Handled`. */
export function tokenMachine(task: Record<string, unknown> = {}) {
  return {
    StartAt: 'Work',
    States: {
      Work: {
        Type: 'Task',
        Resource: tokenResource,
        Parameters: { 'token.$': '$$.Task.Token', 'run.$': '$$.Execution.Name', 'value.$': '$.value' },
        Catch: [{ ErrorEquals: ['BuildFailedError'], ResultPath: '$.failure', Next: 'Handled' }],
        Next: 'Done',
        ...task,
      },
      Handled: { Type: 'Pass', End: true },
      Done: { Type: 'Succeed' },
    },
  };
}

/** Names of the states entered, in order, from an execution's history. */
export function statePath(
  events: Array<{ type: string; stateEnteredEventDetails?: { name?: string | undefined } | undefined }>,
): string[] {
  return events
    .filter((e) => e.type.endsWith('StateEntered'))
    .map((e) => e.stateEnteredEventDetails?.name ?? '?');
}

/** A logger whose calls a test can inspect. */
export function passLogger() {
  return { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}
