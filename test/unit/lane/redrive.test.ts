import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { toLaneInput } from '#functions/lane/create-handler.ts';
import { executionsInLanes, fileLaneStore } from '#functions/lane/file-store.ts';
import { type LaneDeps, lane } from '#functions/lane/lane.ts';
import { DeploymentConfig, type ExecutionModeSetting } from '#shared/deployment-config.ts';

/**
 * A redriven execution comes back to a lane it left when it failed or was stopped (its LeaveLane
 * state, or the release of its end). The lane states find it absent and let it join again.
 */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const target = { cluster: 'c', service: 's', container: 'app' };
const laneOfMain = 'github:acme/api:refs/heads/main';

function setup(executionMode: ExecutionModeSetting) {
  const dataDir = mkdtempSync(join(tmpdir(), 'stepline-lane-redrive-'));
  dirs.push(dataDir);
  const answered: string[] = [];
  const deps: LaneDeps = {
    store: fileLaneStore(dataDir),
    config: DeploymentConfig.parse({
      repositories: [
        {
          provider: 'github',
          name: 'acme/api',
          webhookSecret: { value: 's' },
          deploy: { staging: target, production: target },
          executionMode,
        },
      ],
    }),
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

/** The push and run of execution `name` of `main`, started at second `second`. */
function runOf(name: string, second: number) {
  return {
    push: {
      provider: 'github',
      deliveryId: name,
      repository: { fullName: 'acme/api', cloneUrl: 'file:///tmp/api', defaultBranch: 'main' },
      ref: 'refs/heads/main',
      refType: 'branch',
      refName: 'main',
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

/** The status change EventBridge sends the lane when `name` ends (or, RUNNING, is redriven). */
const endOf = (name: string, status = 'FAILED', time?: string) =>
  toLaneInput({
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    ...(time === undefined ? {} : { time }),
    detail: { executionArn: runOf(name, 0).run.executionArn, status },
  });

describe('a redriven run in superseded mode', () => {
  it('is superseded at its next checkpoint by a newer push that entered while it was out of the lane', async () => {
    const { deps } = setup('superseded');
    const older = runOf('older', 1);
    const newer = runOf('newer', 2);
    await lane({ action: 'enter', ...older }, deps);
    await lane(endOf('older', 'ABORTED'), deps);
    await lane({ action: 'enter', ...newer }, deps);

    // Redriven: it goes on from Build and asks before DeployStaging.
    const checked = await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);

    expect(checked).toEqual({
      superseded: true,
      supersededBy: { execution: 'newer', executionArn: newer.run.executionArn, commit: 'newer-commit' },
    });
  });

  it('is the lane entry again when nothing newer is in the lane: a push after it supersedes it', async () => {
    const { deps } = setup('superseded');
    const older = runOf('older', 1);
    await lane({ action: 'enter', ...older }, deps);
    await lane(endOf('older'), deps);

    const redriven = await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);
    const newerEntered = await lane({ action: 'enter', ...runOf('newer', 2) }, deps);
    const later = await lane({ action: 'check', checkpoint: 'approval', ...older }, deps);

    expect(redriven).toEqual({ superseded: false });
    expect(newerEntered).toMatchObject({ supersedes: ['older'] });
    expect(later).toMatchObject({ superseded: true, supersededBy: { execution: 'newer' } });
  });

  it('commits when it comes back at the production checkpoint, so a later push no longer supersedes it', async () => {
    const { deps } = setup('superseded');
    const older = runOf('older', 1);
    await lane({ action: 'enter', ...older }, deps);
    await lane(endOf('older'), deps);

    const atProduction = await lane({ action: 'check', checkpoint: 'production', ...older }, deps);
    const newerEntered = await lane({ action: 'enter', ...runOf('newer', 2) }, deps);

    expect(atProduction).toEqual({ superseded: false });
    expect(newerEntered).toMatchObject({ supersedes: [] });
    expect((await deps.store.read(laneOfMain)).entries.find((e) => e.execution === 'older')).toMatchObject({
      committed: true,
    });
  });

  it('leaves the lane it joined again, through LeaveLane or the release of its end, and a second time is done', async () => {
    const { deps, dataDir } = setup('superseded');
    const older = runOf('older', 1);
    await lane({ action: 'enter', ...older }, deps);
    await lane(endOf('older'), deps);
    await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);
    const rejoined = executionsInLanes(dataDir);

    const released = await lane(endOf('older'), deps);
    const leftAgain = await lane({ action: 'leave', ...older }, deps);

    expect(rejoined).toEqual([older.run.executionArn]);
    expect(released).toEqual({ left: true });
    expect(leftAgain).toEqual({ left: false });
    expect(executionsInLanes(dataDir)).toEqual([]);
    expect((await deps.store.read(laneOfMain)).entries).toEqual([]);
  });
});

describe('a redriven run in queued mode', () => {
  it('is superseded at its next checkpoint by the newest push that took its place in the queue', async () => {
    const { deps } = setup('queued');
    const older = runOf('older', 1);
    await lane({ action: 'enter', ...older }, deps);
    await lane({ action: 'enter', ...runOf('second', 2) }, deps);
    await lane({ action: 'wait', taskToken: 'token-2', ...runOf('second', 2) }, deps);
    await lane({ action: 'enter', ...runOf('third', 3) }, deps);
    await lane(endOf('older'), deps);

    const checked = await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);

    expect(checked).toMatchObject({ superseded: true, supersededBy: { execution: 'third' } });
    expect((await deps.store.read(laneOfMain)).entries.map((e) => e.execution)).toEqual(['second', 'third']);
  });

  it('holds the queue again when it comes back to an empty lane: the next push waits until it leaves', async () => {
    const { deps, answered } = setup('queued');
    const older = runOf('older', 1);
    const newer = runOf('newer', 2);
    await lane({ action: 'enter', ...older }, deps);
    await lane(endOf('older'), deps);

    const redriven = await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);
    const newerEntered = await lane({ action: 'enter', ...newer }, deps);
    await lane({ action: 'wait', taskToken: 'token-newer', ...newer }, deps);
    const whileOlderRuns = [...answered];
    const left = await lane({ action: 'leave', ...older }, deps);

    expect(redriven).toEqual({ superseded: false });
    expect(newerEntered).toMatchObject({ mode: 'queued', wait: true });
    expect(whileOlderRuns).toEqual([]);
    expect(left).toEqual({ left: true, woke: 'newer' });
  });

  it('waits behind the runs in the lane when it is redriven at WaitInLane', async () => {
    const { deps, answered } = setup('queued');
    const first = runOf('first', 1);
    const second = runOf('second', 2);
    const third = runOf('third', 3);
    await lane({ action: 'enter', ...first }, deps);
    await lane({ action: 'enter', ...second }, deps);
    // The runtime stopped while "second" waited: its lane was released at its end.
    await lane(endOf('second', 'ABORTED'), deps);
    await lane({ action: 'enter', ...third }, deps);
    await lane({ action: 'wait', taskToken: 'token-3', ...third }, deps);

    await lane({ action: 'wait', taskToken: 'token-2-redriven', ...second }, deps);
    const whileFirstRuns = [...answered];
    await lane({ action: 'leave', ...first }, deps);
    const afterFirst = [...answered];
    await lane({ action: 'leave', ...third }, deps);

    expect(whileFirstRuns).toEqual([]);
    expect(afterFirst).toEqual(['token-3']);
    expect(answered).toEqual(['token-3', 'token-2-redriven']);
  });
});

describe('the release of a redriven run', () => {
  it('keeps the run in its lane when the status change says RUNNING again (a redrive)', async () => {
    const { deps } = setup('superseded');
    const older = runOf('older', 1);
    await lane({ action: 'enter', ...older }, deps);

    const released = await lane(endOf('older', 'RUNNING'), deps);

    expect(released).toEqual({ left: false });
    expect((await deps.store.read(laneOfMain)).entries.map((e) => e.execution)).toEqual(['older']);
  });

  it('ignores an end delivered late, after the redriven run joined its lane again, and takes a later end', async () => {
    let now = Date.parse('2026-11-30T06:00:00Z');
    const { deps, answered } = setup('queued');
    deps.now = () => now;
    const older = runOf('older', 1);
    const newer = runOf('newer', 2);
    await lane({ action: 'enter', ...older }, deps);
    // Stopped at 06:00:10, released; EventBridge delivers at least once, and retries: the same end
    // may come again after the run was redriven and joined its lane again.
    now = Date.parse('2026-11-30T06:00:10Z');
    await lane(endOf('older', 'ABORTED', '2026-11-30T06:00:10Z'), deps);
    now = Date.parse('2026-11-30T06:05:00Z');
    await lane({ action: 'check', checkpoint: 'staging', ...older }, deps);
    await lane({ action: 'enter', ...newer }, deps);
    await lane({ action: 'wait', taskToken: 'token-newer', ...newer }, deps);

    const late = await lane(endOf('older', 'ABORTED', '2026-11-30T06:00:10Z'), deps);
    const whileOlderRuns = [...answered];
    const ended = await lane(endOf('older', 'FAILED', '2026-11-30T06:07:00Z'), deps);

    expect(late).toEqual({ left: false, rejoined: true });
    expect(whileOlderRuns).toEqual([]);
    expect(ended).toEqual({ left: true, woke: 'newer' });
    expect(answered).toEqual(['token-newer']);
  });
});
