import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { toLaneInput } from '#functions/lane/create-handler.ts';
import { executionsInLanes } from '#functions/lane/file-store.ts';
import { storyOf } from '#local/commands/executions.ts';
import { releaseLanesOnExecutionEnd } from '#local/lane-release.ts';
import { LocalStepFunctions, type TaskHandler } from '#local/sfn/engine.ts';
import { localSubstitutions as s } from '#local/substitutions.ts';
import type { ExecutionModeSetting } from '#shared/deployment-config.ts';
import { render } from '#state-machines/pipeline.ts';
import { laneTasks } from './lanes.ts';

/**
 * A run stopped before DeployProduction leaves its lane (the release of its end, as EventBridge's rule
 * does on AWS). Redriven, it must join the lane again: superseded by a newer push of its branch that
 * is in the lane, the lane's entry when it is alone.
 */

const silent = { info: () => {}, warn: () => {}, error: () => {} };
const ecsRunTask = 'arn:aws:states:::ecs:runTask.waitForTaskToken';
const lambdaWithToken = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const digest = `sha256:${'b'.repeat(64)}`;
const image = {
  repository: 'r/acme/hello',
  digest,
  uri: `r/acme/hello@${digest}`,
  tags: [],
  bytesPushed: 1,
  layers: 1,
};

const engines: LocalStepFunctions[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function pushOf(commit: string) {
  return {
    provider: 'github',
    deliveryId: commit,
    repository: { fullName: 'acme/hello', cloneUrl: 'file:///tmp/hello', defaultBranch: 'main' },
    ref: 'refs/heads/main',
    refType: 'branch',
    refName: 'main',
    before: '0'.repeat(40),
    after: commit,
    headCommit: { id: commit, message: 'change', timestamp: '2026-11-30T05:00:00Z' },
  };
}

/** A task of one execution that waits for the test to let it end. */
type Held = () => void;

/**
 * The real ASL with fake steps, the real lane function and the local release of ended executions.
 * Each Build of `holdBuildOf` and each approval of `holdApprovalOf` waits for the test; everything
 * else succeeds at once.
 */
function pipeline(executionMode: ExecutionModeSetting, holdBuildOf: string[], holdApprovalOf: string[] = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'stepline-lane-redrive-'));
  dirs.push(dataDir);
  let engine!: LocalStepFunctions;
  const held = new Map<string, Held[]>();
  const lanes = laneTasks(dataDir, () => engine, executionMode);
  const ok: TaskHandler = async () => ({ ok: true });
  const hold = (key: string, release: Held) => held.set(key, [...(held.get(key) ?? []), release]);
  const runner: TaskHandler = async (input, ctx) => {
    const env = (
      input as { Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } }
    ).Overrides.ContainerOverrides[0]!.Environment;
    const stage = env.find((e) => e.Name === 'STEPLINE_STAGE')!.Value;
    const token = ctx.taskToken!;
    const succeed = () => engine.sendTaskSuccess(token, JSON.stringify(stage === 'publish' ? { image } : {}));
    if (stage === 'build' && holdBuildOf.includes(ctx.executionName))
      hold(`build:${ctx.executionName}`, succeed);
    else setImmediate(succeed);
    return { taskArn: 'fake' };
  };
  const approval: TaskHandler = async (_input, ctx) => {
    const approve = () =>
      engine.sendTaskSuccess(
        ctx.taskToken!,
        JSON.stringify({ decision: 'approve', approver: 'ops@example.com' }),
      );
    if (holdApprovalOf.includes(ctx.executionName)) hold(`approval:${ctx.executionName}`, approve);
    else setImmediate(approve);
    return null;
  };
  const context = {
    executionArn: 'release',
    executionName: 'release',
    stateName: 'release',
    resource: 'release',
    signal: new AbortController().signal,
  };
  /** The engine of a `serve` on `dataDir`, with the local release of ended executions. */
  const startEngine = () => {
    engine = new LocalStepFunctions({
      dataDir,
      stateMachineName: 'stepline-pipeline',
      definition: render(s),
      tasks: {
        [s.ReportStatusFunctionArn]: ok,
        [s.FetchSourceFunctionArn]: async () => ({
          sourceKey: 'runs/x/source.tar.gz',
          configKey: 'runs/x/stepline.json',
          deployment: {
            imageRepository: 'acme/hello',
            approvalTimeoutSeconds: 3600,
            runnerTaskRoleArn: 'arn:aws:iam::111122223333:role/stepline/runner',
            publisherTaskRoleArn: 'arn:aws:iam::111122223333:role/stepline/publisher',
          },
        }),
        [s.DeployFunctionArn]: async () => ({ outcome: 'Deploying', rolloutState: 'IN_PROGRESS' }),
        [s.CheckDeploymentFunctionArn]: async () => ({ outcome: 'Completed', rolloutState: 'COMPLETED' }),
        [s.RequestApprovalFunctionArn]: ok,
        [s.LaneFunctionArn]: lanes.lane,
        [lambdaWithToken]: lanes.withToken(approval),
        [ecsRunTask]: runner,
      },
      overrides: { waitTimeOverrides: 0, retryIntervalOverrides: 0 },
    });
    engines.push(engine);
    return releaseLanesOnExecutionEnd(engine, (event) => lanes.lane(toLaneInput(event), context), silent);
  };
  let stopReleasing = startEngine();

  const until = async (what: string, ready: () => boolean) => {
    for (let i = 0; i < 1000; i++) {
      if (ready()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  /** The `n`th (from 1) held task `key` once it runs: calling it lets it succeed. */
  const nth = async (key: string, n: number) => {
    await until(`${key} #${n}`, () => (held.get(key)?.length ?? 0) >= n);
    return held.get(key)![n - 1]!;
  };
  return {
    get engine() {
      return engine;
    },
    /** Stops the runtime as `serve` does at Ctrl-C (the release unsubscribed first) and starts it again. */
    async restart() {
      stopReleasing();
      await engine.close();
      stopReleasing = startEngine();
    },
    async start(name: string) {
      const commit = `${name}00`.replace(/[^0-9a-f]/g, 'a');
      return (await engine.startExecution({ name, input: JSON.stringify(pushOf(commit)) })).executionArn;
    },
    build: (name: string, n = 1) => nth(`build:${name}`, n),
    approval: (name: string, n = 1) => nth(`approval:${name}`, n),
    /** Resolves once `executionArn` is in no lane (its end was released). */
    released: (executionArn: string) =>
      until(`the release of ${executionArn}`, () => !executionsInLanes(dataDir).includes(executionArn)),
    /** Resolves once `name` has entered one of `states`. */
    reached: (name: string, ...states: string[]) =>
      until(`${name} to reach ${states.join(' or ')}`, () =>
        storyOf(dataDir, name).some((v) => states.includes(v.name)),
      ),
    path: (name: string) => storyOf(dataDir, name).map((v) => v.name),
  };
}

it('ends a redriven run as superseded, naming the newer push that entered the lane while it was stopped', async () => {
  const p = pipeline('superseded', ['older', 'newer']);
  const olderArn = await p.start('older');
  await p.build('older');
  await p.engine.stopExecution(olderArn, { error: 'Stepline.Stopped', cause: 'stopped by hand' });
  await p.released(olderArn);
  const newerArn = await p.start('newer');
  const newerBuild = await p.build('newer');

  await p.engine.redriveExecution(olderArn);
  (await p.build('older', 2))();
  const older = await p.engine.waitForExecution(olderArn);
  newerBuild();
  const newer = await p.engine.waitForExecution(newerArn);

  expect(older.status).toBe('SUCCEEDED');
  expect(older.redriveCount).toBe(1);
  expect(p.path('older')).not.toContain('DeployProduction');
  expect(p.path('older').slice(-5)).toEqual([
    'CheckLaneBeforeStaging',
    'SupersededBeforeStaging',
    'Superseded',
    'LeaveLaneAfterSuperseded',
    'PipelineSuperseded',
  ]);
  expect(JSON.parse(older.output!).lane).toEqual({
    superseded: true,
    supersededBy: { execution: 'newer', executionArn: newerArn, commit: expect.any(String) },
  });
  expect(newer.status).toBe('SUCCEEDED');
  expect(p.path('newer')).toContain('DeployProduction');
});

it('lets a redriven run that is alone in its lane deploy, holding the queue for a push that comes meanwhile', async () => {
  const p = pipeline('queued', ['older'], ['older']);
  const olderArn = await p.start('older');
  await p.build('older');
  await p.engine.stopExecution(olderArn, { error: 'Stepline.Stopped', cause: 'stopped by hand' });
  await p.released(olderArn);

  await p.engine.redriveExecution(olderArn);
  (await p.build('older', 2))();
  const approveOlder = await p.approval('older');
  const newerArn = await p.start('newer');
  await p.reached('newer', 'WaitInLane', 'Build');
  const newerWhileOlderRuns = p.path('newer');
  approveOlder();
  const [older, newer] = await Promise.all([
    p.engine.waitForExecution(olderArn),
    p.engine.waitForExecution(newerArn),
  ]);

  expect(older.status).toBe('SUCCEEDED');
  expect(p.path('older')).toContain('DeployProduction');
  expect(p.path('older').at(-2)).toBe('LeaveLaneAfterSuccess');
  expect(newerWhileOlderRuns.at(-1)).toBe('WaitInLane');
  expect(newer.status).toBe('SUCCEEDED');
  expect(p.path('newer')).toContain('DeployProduction');
});

it('ends a run redriven at serve start while it waited for approval as superseded by a push that came since', async () => {
  const p = pipeline('superseded', ['newer'], ['older']);
  const olderArn = await p.start('older');
  await p.approval('older');
  await p.restart();
  await p.released(olderArn);
  const newerArn = await p.start('newer');
  const newerBuild = await p.build('newer');

  const redriven = await p.engine.redriveStoppedByRuntime(({ stateName }) => stateName === 'RequestApproval');
  (await p.approval('older', 2))();
  const older = await p.engine.waitForExecution(olderArn);
  newerBuild();
  const newer = await p.engine.waitForExecution(newerArn);

  expect(redriven).toEqual([olderArn]);
  expect(older.status).toBe('SUCCEEDED');
  expect(p.path('older')).not.toContain('DeployProduction');
  expect(p.path('older').slice(-5)).toEqual([
    'CheckLaneBeforeProduction',
    'SupersededBeforeProduction',
    'Superseded',
    'LeaveLaneAfterSuperseded',
    'PipelineSuperseded',
  ]);
  expect(JSON.parse(older.output!).lane).toMatchObject({
    superseded: true,
    supersededBy: { execution: 'newer' },
  });
  expect(newer.status).toBe('SUCCEEDED');
  expect(p.path('newer')).toContain('DeployProduction');
});
