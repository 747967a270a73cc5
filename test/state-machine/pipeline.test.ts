import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { storyOf } from '#local/commands/executions.ts';
import { localEngineOverrides } from '#local/runtime.ts';
import { LocalStepFunctions, type LocalStepFunctionsOverrides, type TaskHandler } from '#local/sfn/engine.ts';
import { localSubstitutions } from '#local/substitutions.ts';
import type { ExecutionModeSetting } from '#shared/deployment-config.ts';
import {
  ApprovalRejectedError,
  BuildFailedError,
  DeploymentFailedError,
  DeploymentTimedOutError,
  LambdaTooManyRequestsError,
  StatusReportError,
  TestsFailedError,
} from '#shared/errors.ts';
import { render } from '#state-machines/pipeline.ts';
import { laneTasks } from './lanes.ts';

const ecsRunTask = 'arn:aws:states:::ecs:runTask.waitForTaskToken';
const lambdaWithToken = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
const s = localSubstitutions;

const push = {
  provider: 'github',
  deliveryId: 'd-1',
  repository: { fullName: 'acme/hello', cloneUrl: 'file:///tmp/hello', defaultBranch: 'main' },
  ref: 'refs/heads/main',
  refType: 'branch',
  refName: 'main',
  before: '0000000000000000000000000000000000000000',
  after: 'abcdef1234567',
  headCommit: { id: 'abcdef1234567', message: 'Say hello', timestamp: '2026-11-30T05:00:00Z' },
};

/** What each fake task does; the real ASL decides what happens next. */
interface Script {
  /** ReportPending/ReportSuccess/ReportFailure/Superseded (the report-status Lambda). */
  reportStatus?: TaskHandler;
  fetchSource?: TaskHandler;
  /** Called for Build/Test/PublishImage with the stage the ASL passed in the container overrides. */
  runner?: (stage: string, token: string) => void;
  /** Sees each RunTask request (the state's Parameters) as the ECS integration receives it. */
  onRunTask?: (input: unknown) => void;
  deploy?: TaskHandler;
  check?: TaskHandler;
  approval?: (token: string) => void;
  /** Seconds RequestApproval waits (FetchSource's `deployment.approvalTimeoutSeconds`). */
  approvalTimeoutSeconds?: number;
  /** The repository's `executionMode` (the real lane function runs, on files in the run's data directory). */
  executionMode?: ExecutionModeSetting;
}

/** FetchSource's `deployment` roles for the push's repository (the stack's per-repository roles on AWS). */
const taskRoles = {
  runnerTaskRoleArn:
    'arn:aws:iam::111122223333:role/stepline/stepline-runner-0123abcd-0123456789ab-eu-west-1',
  publisherTaskRoleArn:
    'arn:aws:iam::111122223333:role/stepline/stepline-publisher-0123abcd-0123456789ab-eu-west-1',
};

const image = {
  repository: '127.0.0.1:5000/acme/hello',
  digest: `sha256:${'a'.repeat(64)}`,
  uri: `127.0.0.1:5000/acme/hello@sha256:${'a'.repeat(64)}`,
  tags: ['abcdef1234567', 'branch-main'],
  bytesPushed: 1024,
  layers: 2,
};

const engines: LocalStepFunctions[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function stageOf(input: unknown): string {
  const env = (
    input as { Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } }
  ).Overrides.ContainerOverrides[0]!.Environment;
  return env.find((e) => e.Name === 'STEPLINE_STAGE')!.Value;
}

function pipeline(
  script: Script,
  overrides: LocalStepFunctionsOverrides = {},
  /** Changes the rendered ASL, e.g. to add a state. */
  edit: (asl: string) => string = (asl) => asl,
) {
  const dataDir = mkdtempSync(join(tmpdir(), 'stepline-sm-'));
  dirs.push(dataDir);
  let engine!: LocalStepFunctions;
  const ok: TaskHandler = async () => ({ ok: true });
  const runner: TaskHandler = async (input, ctx) => {
    const stage = stageOf(input);
    script.onRunTask?.(input);
    const succeed = (st: string, token: string) =>
      engine.sendTaskSuccess(token, JSON.stringify(st === 'publish' ? { stage: st, image } : { stage: st }));
    setImmediate(() => (script.runner ?? succeed)(stage, ctx.taskToken!));
    return { taskArn: 'fake' };
  };
  const approval: TaskHandler = async (_input, ctx) => {
    setImmediate(() =>
      (
        script.approval ??
        ((token) =>
          engine.sendTaskSuccess(
            token,
            JSON.stringify({
              decision: 'approve',
              approver: 'ops@example.com',
              comment: '',
              decidedAt: 'now',
            }),
          ))
      )(ctx.taskToken!),
    );
    return null;
  };
  const lanes = laneTasks(dataDir, () => engine, script.executionMode);
  engine = new LocalStepFunctions({
    dataDir,
    stateMachineName: 'stepline-pipeline',
    definition: edit(render(s)),
    tasks: {
      [s.ReportStatusFunctionArn]: script.reportStatus ?? ok,
      [s.FetchSourceFunctionArn]:
        script.fetchSource ??
        (async () => ({
          sourceKey: 'runs/x/source.tar.gz',
          configKey: 'runs/x/stepline.json',
          deployment: {
            imageRepository: 'acme/hello',
            approvalTimeoutSeconds: script.approvalTimeoutSeconds ?? 3600,
            ...taskRoles,
          },
        })),
      [s.DeployFunctionArn]:
        script.deploy ?? (async () => ({ outcome: 'Deploying', rolloutState: 'IN_PROGRESS' })),
      [s.CheckDeploymentFunctionArn]:
        script.check ?? (async () => ({ outcome: 'Completed', rolloutState: 'COMPLETED' })),
      [s.RequestApprovalFunctionArn]: ok,
      [s.LaneFunctionArn]: lanes.lane,
      [lambdaWithToken]: lanes.withToken(approval),
      [ecsRunTask]: runner,
    },
    overrides: { waitTimeOverrides: 0, retryIntervalOverrides: 0, ...overrides },
  });
  engines.push(engine);
  return {
    async run() {
      const { executionArn } = await engine.startExecution({ name: 'run-1', input: JSON.stringify(push) });
      const description = await engine.waitForExecution(executionArn);
      const visits = storyOf(dataDir, 'run-1');
      return { description, visits, path: visits.map((v) => v.name) };
    },
  };
}

describe('the pipeline state machine', () => {
  it('goes from the push to production when every step succeeds', async () => {
    const { description, path } = await pipeline({}).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(path).toEqual([
      'PushReceived',
      'ReportPending',
      'FetchSource',
      'EnterLane',
      'MustWaitInLane',
      'Build',
      'Test',
      'PublishImage',
      'CheckLaneBeforeStaging',
      'SupersededBeforeStaging',
      'DeployStaging',
      'StagingSuperseded',
      'WaitForStaging',
      'CheckStaging',
      'StagingRolledOut',
      'CheckLaneBeforeApproval',
      'SupersededBeforeApproval',
      'RequestApproval',
      'Approved',
      'CheckLaneBeforeProduction',
      'SupersededBeforeProduction',
      'DeployProduction',
      'ProductionSuperseded',
      'WaitForProduction',
      'CheckProduction',
      'ProductionRolledOut',
      'ReportSuccess',
      'LeaveLaneAfterSuccess',
      'PipelineSucceeded',
    ]);
  });

  it('passes each runner stage its own name', async () => {
    const stages: string[] = [];
    let engine: LocalStepFunctions | undefined;
    const run = pipeline({
      runner: (stage, token) => {
        stages.push(stage);
        engine = engines.at(-1);
        engine!.sendTaskSuccess(token, '{}');
      },
    });
    await run.run();

    expect(stages).toEqual(['build', 'test', 'publish']);
  });

  it("runs Build and Test as the repository's runner role and PublishImage as its publisher role", async () => {
    const requests: { stage: string; taskRoleArn: unknown; provider: unknown }[] = [];
    await pipeline({
      onRunTask: (input) => {
        const { Overrides } = input as {
          Overrides: {
            TaskRoleArn?: unknown;
            ContainerOverrides: { Environment: { Name: string; Value: string }[] }[];
          };
        };
        const env = Overrides.ContainerOverrides[0]!.Environment;
        requests.push({
          stage: stageOf(input),
          taskRoleArn: Overrides.TaskRoleArn,
          provider: env.find((e) => e.Name === 'STEPLINE_PROVIDER')?.Value,
        });
      },
    }).run();

    expect(requests).toEqual([
      { stage: 'build', taskRoleArn: taskRoles.runnerTaskRoleArn, provider: 'github' },
      { stage: 'test', taskRoleArn: taskRoles.runnerTaskRoleArn, provider: 'github' },
      { stage: 'publish', taskRoleArn: taskRoles.publisherTaskRoleArn, provider: 'github' },
    ]);
  });

  it('stops at Build and reports the failure when the build fails', async () => {
    const { description, path } = await pipeline({
      runner: (stage, token) => {
        const engine = engines.at(-1)!;
        if (stage === 'build')
          engine.sendTaskFailure(token, new BuildFailedError('x').name, 'npm run build exited 2');
        else engine.sendTaskSuccess(token, '{}');
      },
    }).run();

    expect(path).toEqual([
      'PushReceived',
      'ReportPending',
      'FetchSource',
      'EnterLane',
      'MustWaitInLane',
      'Build',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(description).toMatchObject({
      status: 'FAILED',
      error: 'BuildFailedError',
      cause: 'npm run build exited 2',
    });
  });

  it('stops at Test and keeps the failing test in the cause', async () => {
    const { description, path } = await pipeline({
      runner: (stage, token) => {
        const engine = engines.at(-1)!;
        if (stage === 'test')
          engine.sendTaskFailure(token, new TestsFailedError('x').name, '1 failed: greets by name');
        else engine.sendTaskSuccess(token, '{}');
      },
    }).run();

    expect(path.slice(-4)).toEqual(['Test', 'ReportFailure', 'LeaveLaneAfterFailure', 'PipelineFailed']);
    expect(description).toMatchObject({ error: 'TestsFailedError', cause: '1 failed: greets by name' });
  });

  it('fails a runner that stops sending heartbeats with States.HeartbeatTimeout', async () => {
    const { description, path } = await pipeline(
      { runner: () => {} /* crashed: never reports, never beats */ },
      { heartbeatSecondsOverride: 0.2 },
    ).run();

    expect(path).toEqual([
      'PushReceived',
      'ReportPending',
      'FetchSource',
      'EnterLane',
      'MustWaitInLane',
      'Build',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(description.error).toBe('States.HeartbeatTimeout');
  });

  it('goes on to FetchSource with a warning when the pending status cannot be published', async () => {
    const statuses: string[] = [];
    const { description, path, visits } = await pipeline({
      reportStatus: async (input) => {
        const { status } = input as { status: string };
        statuses.push(status);
        if (status === 'pending')
          throw new StatusReportError(
            'POST https://api.github.com/repos/acme/hello/statuses/abc answered 403',
          );
        return { ok: true };
      },
    }).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(path.slice(0, 6)).toEqual([
      'PushReceived',
      'ReportPending',
      'FetchSource',
      'EnterLane',
      'MustWaitInLane',
      'Build',
    ]);
    expect(path.at(-1)).toBe('PipelineSucceeded');
    expect(visits.find((v) => v.name === 'ReportPending')).toMatchObject({ retries: 3 });
    expect(statuses.filter((status) => status === 'pending')).toHaveLength(4);
    expect(JSON.parse(description.output!)).toMatchObject({
      reportPending: { Error: 'StatusReportError', Cause: expect.stringContaining('answered 403') },
    });
  });

  it('retries a refused final status and still ends as the run did', async () => {
    let failures = 0;
    const { description, visits } = await pipeline({
      reportStatus: async (input) => {
        if ((input as { status: string }).status === 'success' && failures++ < 2)
          throw new StatusReportError('answered 502 Bad Gateway');
        return { ok: true };
      },
    }).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(visits.find((v) => v.name === 'ReportSuccess')).toMatchObject({
      outcome: 'succeeded',
      retries: 2,
    });
  });

  it('retries a throttled Lambda and carries on', async () => {
    let calls = 0;
    const { description, visits } = await pipeline({
      fetchSource: async () => {
        calls++;
        if (calls === 1) throw new LambdaTooManyRequestsError('Rate exceeded');
        return {
          sourceKey: 'k',
          configKey: 'c',
          deployment: { imageRepository: 'acme/hello', approvalTimeoutSeconds: 60, ...taskRoles },
        };
      },
    }).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(calls).toBe(2);
    expect(visits.filter((v) => v.name === 'FetchSource')).toEqual([
      expect.objectContaining({ outcome: 'succeeded', retries: 1 }),
    ]);
  });

  it('loops through WaitForStaging until the rollout completes', async () => {
    const states = ['IN_PROGRESS', 'IN_PROGRESS', 'COMPLETED'];
    let i = 0;
    const { path } = await pipeline({
      check: async (input) => {
        const env = (input as { environment: string }).environment;
        return { outcome: 'Deploying', rolloutState: env === 'staging' ? states[i++] : 'COMPLETED' };
      },
    }).run();

    expect(path.filter((name) => name === 'CheckStaging')).toHaveLength(3);
    expect(path.filter((name) => name === 'WaitForStaging')).toHaveLength(3);
  });

  it("shortens every Wait state with the local runtime's one setting, whatever its name", async () => {
    // A Wait state the ASL does not have today (WaitForStaging renamed, and an hour long): the
    // local runtime must not wait its full time.
    const states = ['IN_PROGRESS', 'COMPLETED'];
    let i = 0;
    const started = Date.now();
    const { description, path } = await pipeline(
      {
        check: async (input) => {
          const env = (input as { environment: string }).environment;
          return { outcome: 'Deploying', rolloutState: env === 'staging' ? states[i++] : 'COMPLETED' };
        },
      },
      localEngineOverrides({ waitMs: 10 }),
      (asl) =>
        asl.replaceAll('WaitForStaging', 'WaitForCanary').replaceAll('"Seconds": 15', '"Seconds": 3600'),
    ).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(path.filter((name) => name === 'WaitForCanary')).toHaveLength(2);
    expect(path.filter((name) => name === 'WaitForProduction')).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives the runner and the approver task tokens shaped like AWS ones (long, with + / and =)', async () => {
    const tokens: string[] = [];
    const { description } = await pipeline({
      runner: (stage, token) => {
        tokens.push(token);
        engines
          .at(-1)!
          .sendTaskSuccess(token, JSON.stringify(stage === 'publish' ? { stage, image } : { stage }));
      },
      approval: (token) => {
        tokens.push(token);
        engines.at(-1)!.sendTaskSuccess(
          token,
          JSON.stringify({
            decision: 'approve',
            approver: 'ops@example.com',
            comment: '',
            decidedAt: 'now',
          }),
        );
      },
    }).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(tokens).toHaveLength(4);
    for (const token of tokens) {
      expect(token.length).toBeGreaterThan(600);
      for (const char of ['+', '/', '=']) expect(token).toContain(char);
    }
  });

  it('fails with States.Runtime, past the States.ALL catchers, when the approval timeout is not a positive integer', async () => {
    const { description, path } = await pipeline({ approvalTimeoutSeconds: 0 }).run();

    expect(description).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(description.cause).toContain('approvalTimeoutSeconds');
    expect(path.at(-1)).toBe('RequestApproval');
    expect(path).not.toContain('ReportFailure');
  });

  it('ends as superseded, not failed, when staging already runs a newer commit', async () => {
    const { description, path } = await pipeline({
      deploy: async () => ({ outcome: 'Superseded', rolloutState: 'COMPLETED', supersededBy: 'f00d' }),
    }).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(path.slice(-6)).toEqual([
      'SupersededBeforeStaging',
      'DeployStaging',
      'StagingSuperseded',
      'Superseded',
      'LeaveLaneAfterSuperseded',
      'PipelineSuperseded',
    ]);
    expect(path).not.toContain('RequestApproval');
  });

  it('ends as superseded when a newer commit takes over production during the rollout', async () => {
    const { description, path } = await pipeline({
      check: async (input) =>
        (input as { environment: string }).environment === 'production'
          ? { outcome: 'Superseded', rolloutState: 'COMPLETED', supersededBy: 'f00d' }
          : { outcome: 'Completed', rolloutState: 'COMPLETED' },
    }).run();

    expect(description.status).toBe('SUCCEEDED');
    expect(path.slice(-5)).toEqual([
      'CheckProduction',
      'ProductionRolledOut',
      'Superseded',
      'LeaveLaneAfterSuperseded',
      'PipelineSuperseded',
    ]);
    expect(path).not.toContain('ReportSuccess');
  });

  it('passes the image digest from PublishImage to both deployments', async () => {
    const images: unknown[] = [];
    await pipeline({
      deploy: async (input) => {
        images.push((input as { image: unknown }).image);
        return { outcome: 'Deploying', rolloutState: 'IN_PROGRESS' };
      },
    }).run();

    expect(images).toEqual([image, image]);
  });

  it('fails at CheckStaging with the ECS events when the rollout fails', async () => {
    const { description, path } = await pipeline({
      check: async () => {
        throw new DeploymentFailedError(
          '(service staging) deployment ecs-svc/1 deployment failed: tasks failed to start.',
        );
      },
    }).run();

    expect(path.slice(-5)).toEqual([
      'WaitForStaging',
      'CheckStaging',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(description).toMatchObject({ status: 'FAILED', error: 'DeploymentFailedError' });
    expect(path).not.toContain('RequestApproval');
  });

  it('fails with DeploymentTimedOutError when a rollout passes its deadline', async () => {
    const { description, path } = await pipeline({
      check: async (input) => {
        if ((input as { environment: string }).environment === 'production')
          throw new DeploymentTimedOutError('rolled back to td:1');
        return { outcome: 'Completed', rolloutState: 'COMPLETED' };
      },
    }).run();

    expect(path.slice(-4)).toEqual([
      'CheckProduction',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(description.error).toBe('DeploymentTimedOutError');
  });

  it('tells the pusher and fails when the approver rejects through SendTaskFailure', async () => {
    const { description, path } = await pipeline({
      approval: (token) =>
        engines
          .at(-1)!
          .sendTaskFailure(
            token,
            new ApprovalRejectedError('x').name,
            'Rejected by ops@example.com: not today',
          ),
    }).run();

    expect(path.slice(-7)).toEqual([
      'RequestApproval',
      'CheckLaneAfterApproval',
      'SupersededAfterApproval',
      'NotifyApprovalOutcome',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(description).toMatchObject({
      error: 'ApprovalRejectedError',
      cause: 'Rejected by ops@example.com: not today',
    });
    expect(path).not.toContain('DeployProduction');
  });

  it('fails with States.Timeout when nobody decides before the approval timeout', async () => {
    const { description, path } = await pipeline({
      approval: () => {},
      approvalTimeoutSeconds: 1,
    }).run();

    expect(path.slice(-7)).toEqual([
      'RequestApproval',
      'CheckLaneAfterApproval',
      'SupersededAfterApproval',
      'NotifyApprovalOutcome',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(description.error).toBe('States.Timeout');
  });

  it('fails with ApprovalRejectedError when a decision other than approve comes back', async () => {
    const { description, path } = await pipeline({
      approval: (token) =>
        engines
          .at(-1)!
          .sendTaskSuccess(token, JSON.stringify({ decision: 'reject', approver: 'ops@example.com' })),
    }).run();

    expect(path.slice(-7)).toEqual([
      'RequestApproval',
      'Approved',
      'Rejected',
      'NotifyApprovalOutcome',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(description).toMatchObject({
      error: 'ApprovalRejectedError',
      cause: 'Rejected by ops@example.com',
    });
    expect(path).not.toContain('DeployProduction');
  });
});
