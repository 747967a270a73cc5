import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { toLaneInput } from '#functions/lane/create-handler.ts';
import { fileLaneStore } from '#functions/lane/file-store.ts';
import { type LaneDeps, lane } from '#functions/lane/lane.ts';
import { DeploymentConfig, type ExecutionModeSetting } from '#shared/deployment-config.ts';
import { TaskInputError } from '#shared/errors.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const target = { cluster: 'c', service: 's', container: 'app' };

function setup(executionMode?: ExecutionModeSetting, deploy: boolean = true) {
  const dataDir = mkdtempSync(join(tmpdir(), 'stepline-lane-'));
  dirs.push(dataDir);
  const answered: string[] = [];
  const config = DeploymentConfig.parse({
    repositories: [
      {
        provider: 'github',
        name: 'acme/api',
        webhookSecret: { value: 's' },
        ...(deploy ? { deploy: { staging: target, production: target } } : {}),
        ...(executionMode ? { executionMode } : {}),
      },
    ],
  });
  const deps: LaneDeps = {
    store: fileLaneStore(dataDir),
    config,
    logger: { info: () => {}, warn: () => {} },
    sfn: {
      send: (async (command: unknown) => {
        if (command instanceof SendTaskSuccessCommand) answered.push(command.input.taskToken!);
        return {};
      }) as never,
    },
  };
  return { deps, answered, dataDir };
}

/** The push and run of execution `name` of branch `branch`, started at second `second`. */
function runOf(name: string, second: number, branch = 'main') {
  return {
    push: {
      provider: 'github',
      deliveryId: name,
      repository: { fullName: 'acme/api', cloneUrl: 'file:///tmp/api', defaultBranch: 'main' },
      ref: `refs/heads/${branch}`,
      refType: 'branch',
      refName: branch,
      before: '0'.repeat(40),
      after: `${name}-commit`,
      headCommit: { id: `${name}-commit`, message: 'change', timestamp: '2026-11-30T05:00:00Z' },
    },
    run: {
      name,
      executionArn: `arn:aws:states:local:000000000000:execution:stepline-pipeline:${name}`,
      startedAt: new Date(Date.UTC(2026, 10, 30, 6, 0, second)).toISOString(),
    },
  };
}

describe('superseded mode', () => {
  it('marks an older run superseded by a newer push of the same branch, naming the newer execution', async () => {
    const { deps } = setup('superseded');
    const older = runOf('older', 1);
    const newer = runOf('newer', 2);
    await lane({ action: 'enter', ...older }, deps);

    const entered = await lane({ action: 'enter', ...newer }, deps);
    const olderCheck = await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);
    const newerCheck = await lane({ action: 'check', checkpoint: 'staging', ...newer }, deps);

    expect(entered).toEqual({
      mode: 'superseded',
      wait: false,
      supersedes: ['older'],
    });
    expect(olderCheck).toEqual({
      superseded: true,
      supersededBy: { execution: 'newer', executionArn: newer.run.executionArn, commit: 'newer-commit' },
    });
    expect(newerCheck).toEqual({ superseded: false });
  });

  it('does not supersede an older run that has passed the checkpoint before its last deployment', async () => {
    const { deps } = setup('superseded');
    const older = runOf('older', 1);
    const newer = runOf('newer', 2);
    await lane({ action: 'enter', ...older }, deps);
    await lane({ action: 'check', checkpoint: 'production', ...older }, deps);

    const entered = await lane({ action: 'enter', ...newer }, deps);
    const olderCheck = await lane({ action: 'check', checkpoint: 'production', ...older }, deps);

    expect(entered).toMatchObject({ supersedes: [] });
    expect(olderCheck).toEqual({ superseded: false });
  });

  it('supersedes a push at once when a newer push of its branch entered the lane first', async () => {
    const { deps } = setup('superseded');
    const older = runOf('older', 1);
    const newer = runOf('newer', 2);
    await lane({ action: 'enter', ...newer }, deps);

    await lane({ action: 'enter', ...older }, deps);
    const olderCheck = await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);

    expect(olderCheck).toMatchObject({ superseded: true, supersededBy: { execution: 'newer' } });
  });

  it('names the newest of several later pushes', async () => {
    const { deps } = setup('superseded');
    await lane({ action: 'enter', ...runOf('first', 1) }, deps);
    await lane({ action: 'enter', ...runOf('second', 2) }, deps);
    await lane({ action: 'enter', ...runOf('third', 3) }, deps);

    const firstCheck = await lane({ action: 'check', checkpoint: 'approval', ...runOf('first', 1) }, deps);

    expect(firstCheck).toMatchObject({ superseded: true, supersededBy: { execution: 'third' } });
  });

  it('leaves pushes of other branches alone', async () => {
    const { deps } = setup('superseded');
    await lane({ action: 'enter', ...runOf('main-run', 1) }, deps);
    await lane({ action: 'enter', ...runOf('release-run', 2, 'release') }, deps);

    const check = await lane({ action: 'check', checkpoint: 'staging', ...runOf('main-run', 1) }, deps);

    expect(check).toEqual({ superseded: false });
  });

  it('counts an enter retried after a lost answer once', async () => {
    const { deps } = setup('superseded');
    await lane({ action: 'enter', ...runOf('older', 1) }, deps);
    await lane({ action: 'enter', ...runOf('newer', 2) }, deps);

    const again = await lane({ action: 'enter', ...runOf('newer', 2) }, deps);
    const { entries } = await deps.store.read('github:acme/api:refs/heads/main');

    expect(again).toMatchObject({ wait: false });
    expect(entries.map((e) => e.execution)).toEqual(['older', 'newer']);
  });
});

describe('queued mode', () => {
  it('lets the first push through and makes the next one wait until the first leaves', async () => {
    const { deps, answered } = setup('queued');
    const first = runOf('first', 1);
    const second = runOf('second', 2);

    const firstEntered = await lane({ action: 'enter', ...first }, deps);
    const secondEntered = await lane({ action: 'enter', ...second }, deps);
    await lane({ action: 'wait', taskToken: 'token-2', ...second }, deps);
    const whileFirstRuns = [...answered];
    const left = await lane({ action: 'leave', ...first }, deps);

    expect(firstEntered).toMatchObject({ mode: 'queued', wait: false });
    expect(secondEntered).toMatchObject({ mode: 'queued', wait: true });
    expect(whileFirstRuns).toEqual([]);
    expect(answered).toEqual(['token-2']);
    expect(left).toEqual({ left: true, woke: 'second' });
  });

  it('lets the waiting push proceed when the earlier run failed without reaching LeaveLane', async () => {
    const { deps, answered } = setup('queued');
    const first = runOf('first', 1);
    const second = runOf('second', 2);
    await lane({ action: 'enter', ...first }, deps);
    await lane({ action: 'enter', ...second }, deps);
    await lane({ action: 'wait', taskToken: 'token-2', ...second }, deps);

    const released = await lane({ action: 'release', executionArn: first.run.executionArn }, deps);

    expect(released).toEqual({ left: true, woke: 'second' });
    expect(answered).toEqual(['token-2']);
  });

  it('answers the waiting token at once when the earlier run left between EnterLane and WaitInLane', async () => {
    const { deps, answered } = setup('queued');
    const first = runOf('first', 1);
    const second = runOf('second', 2);
    await lane({ action: 'enter', ...first }, deps);
    await lane({ action: 'enter', ...second }, deps);
    await lane({ action: 'leave', ...first }, deps);

    await lane({ action: 'wait', taskToken: 'token-2', ...second }, deps);

    expect(answered).toEqual(['token-2']);
  });

  it('keeps the third push waiting while the second runs', async () => {
    const { deps, answered } = setup('queued');
    for (const [name, second] of [
      ['first', 1],
      ['second', 2],
      ['third', 3],
    ] as const)
      await lane({ action: 'enter', ...runOf(name, second) }, deps);
    await lane({ action: 'wait', taskToken: 'token-2', ...runOf('second', 2) }, deps);
    await lane({ action: 'wait', taskToken: 'token-3', ...runOf('third', 3) }, deps);

    await lane({ action: 'leave', ...runOf('first', 1) }, deps);
    const afterFirst = [...answered];
    await lane({ action: 'leave', ...runOf('second', 2) }, deps);

    expect(afterFirst).toEqual(['token-2']);
    expect(answered).toEqual(['token-2', 'token-3']);
  });

  it('treats a second leave of the same run as done', async () => {
    const { deps } = setup('queued');
    await lane({ action: 'enter', ...runOf('first', 1) }, deps);
    await lane({ action: 'leave', ...runOf('first', 1) }, deps);

    const again = await lane({ action: 'leave', ...runOf('first', 1) }, deps);
    const released = await lane(
      { action: 'release', executionArn: runOf('first', 1).run.executionArn },
      deps,
    );

    expect(again).toEqual({ left: false });
    expect(released).toEqual({ left: false });
  });
});

describe('parallel mode', () => {
  it('lets every push run and stores nothing', async () => {
    const { deps, dataDir } = setup('parallel');
    await lane({ action: 'enter', ...runOf('older', 1) }, deps);

    const entered = await lane({ action: 'enter', ...runOf('newer', 2) }, deps);
    const check = await lane({ action: 'check', checkpoint: 'staging', ...runOf('older', 1) }, deps);

    expect(entered).toEqual({ mode: 'parallel', wait: false, supersedes: [] });
    expect(check).toEqual({ superseded: false });
    expect(readdirSync(join(dataDir, 'lanes')).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  it('is the default for a repository with no deploy target, and superseded for one with targets', async () => {
    const withoutTargets = await lane({ action: 'enter', ...runOf('a', 1) }, setup(undefined, false).deps);
    const withTargets = await lane({ action: 'enter', ...runOf('a', 1) }, setup(undefined, true).deps);

    expect(withoutTargets).toMatchObject({ mode: 'parallel' });
    expect(withTargets).toMatchObject({ mode: 'superseded' });
  });
});

describe('per-branch modes', () => {
  it('takes the first branch glob that matches and the default for other branches', async () => {
    const { deps } = setup({ 'release/*': 'queued', main: 'parallel' });

    const release = await lane({ action: 'enter', ...runOf('r', 1, 'release/1.2') }, deps);
    const main = await lane({ action: 'enter', ...runOf('m', 1, 'main') }, deps);
    const feature = await lane({ action: 'enter', ...runOf('f', 1, 'feature/x') }, deps);

    expect([release, main, feature].map((r) => (r as { mode: string }).mode)).toEqual([
      'queued',
      'parallel',
      'superseded',
    ]);
  });
});

it('refuses an input without an action, naming the field', async () => {
  const { deps } = setup();

  await expect(lane({ push: {} }, deps)).rejects.toThrow(TaskInputError);
  await expect(lane({ push: {} }, deps)).rejects.toThrow(/action/);
});

it('loses no push when many of one branch enter at once', async () => {
  const { deps } = setup('queued');
  const names = Array.from({ length: 20 }, (_, i) => `run-${String(i).padStart(2, '0')}`);

  const entered = await Promise.all(
    names.map((name, i) => lane({ action: 'enter', ...runOf(name, i) }, deps)),
  );
  const { entries } = await deps.store.read('github:acme/api:refs/heads/main');

  expect(entries.map((e) => e.execution).sort()).toEqual(names);
  expect(entered.filter((e) => !(e as { wait: boolean }).wait)).toHaveLength(1);
});

it('releases the lane of an execution named by an EventBridge status change', async () => {
  const { deps, answered } = setup('queued');
  await lane({ action: 'enter', ...runOf('first', 1) }, deps);
  await lane({ action: 'enter', ...runOf('second', 2) }, deps);
  await lane({ action: 'wait', taskToken: 'token-2', ...runOf('second', 2) }, deps);

  const released = await lane(
    toLaneInput({
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      detail: { executionArn: runOf('first', 1).run.executionArn, status: 'ABORTED' },
    }),
    deps,
  );

  expect(released).toEqual({ left: true, woke: 'second' });
  expect(answered).toEqual(['token-2']);
});
