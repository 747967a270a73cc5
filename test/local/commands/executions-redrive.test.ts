import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureLocalCredentials } from '#local/credentials.ts';
import { startSfnApiServer } from '#local/sfn/api-server.ts';
import { stepline } from '../../e2e/cli.ts';
import { createEngine, lambdaResource, tempDataDir } from '../sfn/helpers.ts';

const machine = {
  StartAt: 'Deploy',
  States: { Deploy: { Type: 'Task', Resource: lambdaResource, End: true } },
};

/** An engine whose only task fails the first time, served on the data directory as `stepline serve` would. */
async function servedRuntime() {
  const dataDir = tempDataDir();
  let calls = 0;
  const engine = createEngine(
    machine,
    {
      [lambdaResource]: async () => {
        calls++;
        if (calls === 1) throw Object.assign(new Error('registry down'), { name: 'DeployFailedError' });
        return { deployed: true };
      },
    },
    { dataDir },
  );
  const credentials = await ensureLocalCredentials(dataDir);
  const server = await startSfnApiServer(engine, { credentials });
  // This test process plays `stepline serve`: the CLI, a process of its own, finds it by runtime.json.
  writeFileSync(
    join(dataDir, 'runtime.json'),
    JSON.stringify({ pid: process.pid, webhookUrl: 'http://127.0.0.1:9', sfnEndpoint: server.url }),
  );
  return { dataDir, engine, close: () => server.close() };
}

describe('stepline executions redrive', () => {
  it('redrives a failed execution in the running serve, which finishes it from the failed state', async () => {
    const { dataDir, engine, close } = await servedRuntime();
    try {
      const { executionArn } = await engine.startExecution({ name: 'push-1', input: '{}' });
      await engine.waitForExecution(executionArn);

      const result = await stepline(['executions', 'redrive', 'push-1', '--data', dataDir]);

      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('redriven push-1 (redrive 1');
      expect(await engine.waitForExecution(executionArn)).toMatchObject({
        status: 'SUCCEEDED',
        redriveCount: 1,
      });
      const shown = await stepline(['executions', 'show', 'push-1', '--data', dataDir]);
      expect(shown.stdout).toMatch(/push-1 {2}SUCCEEDED/);
      expect(shown.stdout).toContain('redriven: 1 time, last at ');
    } finally {
      await close();
    }
  }, 60_000);

  it('exits 1 with the reason for an execution that succeeded, and 2 for an unknown one', async () => {
    const { dataDir, engine, close } = await servedRuntime();
    try {
      const first = await engine.startExecution({ name: 'push-1', input: '{}' });
      await engine.waitForExecution(first.executionArn);
      await engine.redriveExecution(first.executionArn);
      await engine.waitForExecution(first.executionArn);

      const succeeded = await stepline(['executions', 'redrive', 'push-1', '--data', dataDir]);
      const unknown = await stepline(['executions', 'redrive', 'nope', '--data', dataDir]);

      expect(succeeded.code).toBe(1);
      expect(succeeded.stdout).toContain(
        'cannot redrive push-1: Execution is SUCCEEDED and cannot be redriven',
      );
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('no execution named "nope"');
    } finally {
      await close();
    }
  }, 60_000);

  it('exits 2 naming the fix when no serve runs on the data directory', async () => {
    const dataDir = tempDataDir();
    const engine = createEngine(machine, { [lambdaResource]: async () => ({}) }, { dataDir });
    const { executionArn } = await engine.startExecution({ name: 'push-1', input: '{}' });
    await engine.waitForExecution(executionArn);

    const result = await stepline(['executions', 'redrive', 'push-1', '--data', dataDir]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`no stepline serve is running on ${dataDir}`);
  }, 60_000);
});
