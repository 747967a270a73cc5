import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toLaneInput } from '#functions/lane/create-handler.ts';
import { storyOf } from '#local/commands/executions.ts';
import { releaseLanesOnExecutionEnd } from '#local/lane-release.ts';
import { LocalStepFunctions, type TaskHandler } from '#local/sfn/engine.ts';
import { localSubstitutions as s } from '#local/substitutions.ts';
import type { ExecutionModeSetting } from '#shared/deployment-config.ts';
import { BuildFailedError } from '#shared/errors.ts';
import { render } from '#state-machines/pipeline.ts';
import { laneTasks } from './lanes.ts';

const silent = { info: () => {}, warn: () => {}, error: () => {} };
/** What a Task handler gets beside its input, for calling the lane function directly. */
const laneContext = {
  executionArn: 'test',
  executionName: 'test',
  stateName: 'test',
  resource: 'test',
  signal: new AbortController().signal,
};

/** The lane input of an execution that never ran in this engine. */
function pushAndRun(name: string, second: number) {
  return {
    push: pushOf('abc0'),
    run: {
      name,
      executionArn: `arn:aws:states:local:000000000000:execution:stepline-pipeline:${name}`,
      startedAt: new Date(Date.UTC(2020, 0, 1, 0, 0, second)).toISOString(),
    },
  };
}

const ecsRunTask = 'arn:aws:states:::ecs:runTask.waitForTaskToken';
const lambdaWithToken = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const digest = `sha256:${'a'.repeat(64)}`;
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

/** A stage of one execution that waits for the test to let it end. */
interface Held {
  stage: string;
  succeed(): void;
  fail(error: string, cause: string): void;
}

/**
 * The real ASL with fake steps and the real lane function. Build is held for executions named in
 * `holdBuildOf` until the test lets it end; every other step succeeds at once; approvals approve.
 */
function pipeline(
  executionMode: ExecutionModeSetting,
  holdBuildOf: string[] = [],
  /** Executions whose approval nobody gives (it times out after a second). */
  ignoreApprovalOf: string[] = [],
) {
  const dataDir = mkdtempSync(join(tmpdir(), 'stepline-lanes-'));
  dirs.push(dataDir);
  let engine!: LocalStepFunctions;
  const held = new Map<string, Held[]>();
  const waiters: (() => void)[] = [];
  const lanes = laneTasks(dataDir, () => engine, executionMode);
  const ok: TaskHandler = async () => ({ ok: true });
  const runner: TaskHandler = async (input, ctx) => {
    const env = (
      input as { Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } }
    ).Overrides.ContainerOverrides[0]!.Environment;
    const stage = env.find((e) => e.Name === 'STEPLINE_STAGE')!.Value;
    const token = ctx.taskToken!;
    const succeed = () => engine.sendTaskSuccess(token, JSON.stringify(stage === 'publish' ? { image } : {}));
    if (stage === 'build' && holdBuildOf.includes(ctx.executionName)) {
      const list = held.get(ctx.executionName) ?? [];
      list.push({ stage, succeed, fail: (error, cause) => engine.sendTaskFailure(token, error, cause) });
      held.set(ctx.executionName, list);
      for (const wake of waiters.splice(0)) wake();
    } else setImmediate(succeed);
    return { taskArn: 'fake' };
  };
  const approval: TaskHandler = async (_input, ctx) => {
    if (ignoreApprovalOf.includes(ctx.executionName)) return null;
    setImmediate(() =>
      engine.sendTaskSuccess(
        ctx.taskToken!,
        JSON.stringify({ decision: 'approve', approver: 'ops@example.com' }),
      ),
    );
    return null;
  };
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
          approvalTimeoutSeconds: ignoreApprovalOf.length > 0 ? 1 : 3600,
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
  return {
    engine,
    dataDir,
    async start(name: string) {
      const { executionArn } = await engine.startExecution({
        name,
        input: JSON.stringify(pushOf(`${name}00`.replace(/[^0-9a-f]/g, 'a'))),
      });
      return executionArn;
    },
    /** The Build of `name`, once it runs. */
    async build(name: string): Promise<Held> {
      for (;;) {
        const build = held.get(name)?.[0];
        if (build) return build;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    /** Resolves once `name` has entered `state`. */
    async reached(name: string, state: string) {
      for (let i = 0; i < 500; i++) {
        if (storyOf(dataDir, name).some((v) => v.name === state)) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(
        `${name} never reached ${state}: ${storyOf(dataDir, name)
          .map((v) => v.name)
          .join(' > ')}`,
      );
    },
    path: (name: string) => storyOf(dataDir, name).map((v) => v.name),
    lanes,
  };
}

describe('execution modes in the state machine', () => {
  it('ends an older run of the branch as superseded at its next checkpoint, naming the newer execution', async () => {
    const p = pipeline('superseded', ['older']);
    const olderArn = await p.start('older');
    const olderBuild = await p.build('older');
    const newerArn = await p.start('newer');
    const newer = await p.engine.waitForExecution(newerArn);

    olderBuild.succeed();
    const older = await p.engine.waitForExecution(olderArn);

    expect(newer.status).toBe('SUCCEEDED');
    expect(p.path('newer')).toContain('DeployProduction');
    expect(older.status).toBe('SUCCEEDED');
    expect(p.path('older').slice(-6)).toEqual([
      'PublishImage',
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
  });

  it('lets a newer push wait in queued mode and go on once the older run has ended', async () => {
    const p = pipeline('queued', ['older']);
    const olderArn = await p.start('older');
    const olderBuild = await p.build('older');
    const newerArn = await p.start('newer');
    await p.reached('newer', 'WaitInLane');
    const newerWhileOlderRuns = p.path('newer');

    olderBuild.succeed();
    const [older, newer] = await Promise.all([
      p.engine.waitForExecution(olderArn),
      p.engine.waitForExecution(newerArn),
    ]);

    expect(newerWhileOlderRuns).not.toContain('Build');
    expect(older.status).toBe('SUCCEEDED');
    expect(newer.status).toBe('SUCCEEDED');
    expect(p.path('newer').slice(3, 7)).toEqual(['EnterLane', 'MustWaitInLane', 'WaitInLane', 'Build']);
    // The older run left the lane before the newer one's Build started.
    expect(p.path('older').at(-2)).toBe('LeaveLaneAfterSuccess');
  });

  it('lets the waiting push go on when the older run fails', async () => {
    const p = pipeline('queued', ['older']);
    const olderArn = await p.start('older');
    const olderBuild = await p.build('older');
    const newerArn = await p.start('newer');
    await p.reached('newer', 'WaitInLane');

    olderBuild.fail(new BuildFailedError('x').name, 'npm run build exited 1');
    const [older, newer] = await Promise.all([
      p.engine.waitForExecution(olderArn),
      p.engine.waitForExecution(newerArn),
    ]);

    expect(older.status).toBe('FAILED');
    expect(newer.status).toBe('SUCCEEDED');
  });

  it('lets the waiting push go on when the older run is stopped, through the end-of-execution release', async () => {
    const p = pipeline('queued', ['older']);
    releaseLanesOnExecutionEnd(p.engine, (event) => p.lanes.lane(toLaneInput(event), laneContext), silent);
    const olderArn = await p.start('older');
    await p.build('older');
    const newerArn = await p.start('newer');
    await p.reached('newer', 'WaitInLane');

    await p.engine.stopExecution(olderArn, { error: 'Stepline.Stopped', cause: 'stopped by hand' });
    const newer = await p.engine.waitForExecution(newerArn);

    expect(p.engine.describeExecution(olderArn).status).toBe('ABORTED');
    expect(p.path('older')).not.toContain('LeaveLaneAfterFailure');
    expect(newer.status).toBe('SUCCEEDED');
  });

  it('releases at start the lane of an execution that is no longer running', async () => {
    const p = pipeline('queued');
    // Entered the lane, then the runtime stopped: recovery ended it, and no end event released it.
    await p.lanes.lane({ action: 'enter', ...pushAndRun('gone', 1) }, laneContext);

    releaseLanesOnExecutionEnd(p.engine, (event) => p.lanes.lane(toLaneInput(event), laneContext), silent);
    const newer = await p.engine.waitForExecution(await p.start('newer'));

    // Without the release it would wait behind "gone" for good.
    expect(newer.status).toBe('SUCCEEDED');
  });

  it('ends a run that waited for its approval while a newer push took over as superseded, not expired', async () => {
    const p = pipeline('superseded', [], ['older']);
    const olderArn = await p.start('older');
    await p.reached('older', 'RequestApproval');
    const newer = await p.engine.waitForExecution(await p.start('newer'));

    const older = await p.engine.waitForExecution(olderArn);

    expect(newer.status).toBe('SUCCEEDED');
    expect(older.status).toBe('SUCCEEDED');
    expect(p.path('older').slice(-6)).toEqual([
      'RequestApproval',
      'CheckLaneAfterApproval',
      'SupersededAfterApproval',
      'Superseded',
      'LeaveLaneAfterSuperseded',
      'PipelineSuperseded',
    ]);
    expect(JSON.parse(older.output!).lane).toMatchObject({
      superseded: true,
      supersededBy: { execution: 'newer' },
    });
  });

  it('runs two pushes side by side in parallel mode', async () => {
    const p = pipeline('parallel', ['older', 'newer']);
    const olderArn = await p.start('older');
    const newerArn = await p.start('newer');
    const builds = await Promise.all([p.build('older'), p.build('newer')]);

    for (const build of builds) build.succeed();
    const [older, newer] = await Promise.all([
      p.engine.waitForExecution(olderArn),
      p.engine.waitForExecution(newerArn),
    ]);

    expect([older.status, newer.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(p.path('older')).toContain('DeployProduction');
    expect(p.path('newer')).toContain('DeployProduction');
  });
});
