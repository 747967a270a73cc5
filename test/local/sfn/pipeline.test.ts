import { describe, expect, it } from 'vitest';
import type { TaskContext, TaskHandler } from '#local/sfn/engine.ts';
import { DeploymentFailedError } from '#shared/errors.ts';
import { render, type Substitutions } from '#state-machines/pipeline.ts';
import { createEngine, statePath } from './helpers.ts';

const fakeArn = (name: string) => `arn:aws:lambda:local:000000000000:function:fake-${name}`;

const substitutions: Substitutions = {
  ReportStatusFunctionArn: fakeArn('report-status'),
  FetchSourceFunctionArn: fakeArn('fetch-source'),
  DeployFunctionArn: fakeArn('deploy'),
  CheckDeploymentFunctionArn: fakeArn('check-deployment'),
  RequestApprovalFunctionArn: fakeArn('request-approval'),
  LaneFunctionArn: fakeArn('lane'),
  RunnerClusterArn: 'arn:aws:ecs:local:000000000000:cluster/fake',
  RunnerTaskDefinitionArn: 'arn:aws:ecs:local:000000000000:task-definition/fake-runner:1',
  PublisherTaskDefinitionArn: 'arn:aws:ecs:local:000000000000:task-definition/fake-publisher:1',
  RunnerContainerName: 'fake-runner',
  RunnerSubnets: 'subnet-fake',
  RunnerSecurityGroups: 'sg-fake',
  RunnerAssignPublicIp: 'DISABLED',
};

const push = {
  provider: 'github',
  deliveryId: 'fake-delivery',
  repository: { fullName: 'acme/fake-service', cloneUrl: 'file:///tmp/fake', defaultBranch: 'main' },
  ref: 'refs/heads/feature/login',
  refType: 'branch',
  refName: 'feature/login',
  after: 'f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed',
  headCommit: { id: 'f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed', timestamp: '2026-11-30T05:00:00Z' },
};

type RunTaskInput = {
  Overrides: { ContainerOverrides: Array<{ Environment: Array<{ Name: string; Value: string }> }> };
};

describe('the rendered pipeline on the local engine, with fake tasks', () => {
  it('runs the runner stages, hands PublishImage the image repository of the deployment, and reports a failed deployment', async () => {
    const reports: unknown[] = [];
    const runnerEnvs: Record<string, string>[] = [];
    let engineRef: { sendTaskSuccess(token: string, output: string): void } | undefined;
    const fakeRunner: TaskHandler = async (input, ctx: TaskContext) => {
      const env = Object.fromEntries(
        (input as RunTaskInput).Overrides.ContainerOverrides[0]!.Environment.map((e) => [e.Name, e.Value]),
      );
      runnerEnvs.push(env);
      const result =
        env.STEPLINE_STAGE === 'publish'
          ? { stage: 'publish', image: { uri: `fake@sha256:${'0'.repeat(64)}` } }
          : { stage: env.STEPLINE_STAGE };
      setImmediate(() => engineRef?.sendTaskSuccess(env.STEPLINE_TASK_TOKEN!, JSON.stringify(result)));
      return { fakeTaskArn: `fake-task-${ctx.stateName}` };
    };
    const engine = createEngine(JSON.parse(render(substitutions)), {
      [substitutions.ReportStatusFunctionArn]: async (input) => {
        reports.push(input);
        return { reported: true };
      },
      [substitutions.FetchSourceFunctionArn]: async () => ({
        sourceKey: 'fake/source.tgz',
        configKey: 'fake/config',
        deployment: {
          imageRepository: 'acme/fake-service',
          approvalTimeoutSeconds: 60,
          runnerTaskRoleArn: 'arn:aws:iam::000000000000:role/stepline-local-runner',
          publisherTaskRoleArn: 'arn:aws:iam::000000000000:role/stepline-local-publisher',
        },
      }),
      'arn:aws:states:::ecs:runTask.waitForTaskToken': fakeRunner,
      [substitutions.DeployFunctionArn]: async () => {
        throw new DeploymentFailedError('service staging does not exist (fake)');
      },
      [substitutions.RequestApprovalFunctionArn]: async () => {
        throw new Error('fake NotifyApprovalOutcome must not be reached');
      },
      [substitutions.CheckDeploymentFunctionArn]: async () => {
        throw new Error('fake CheckDeployment must not be reached');
      },
      // The lane: parallel mode (nothing waits, nothing is superseded), as for a branch without a lane.
      [substitutions.LaneFunctionArn]: async (input) =>
        (input as { action: string }).action === 'enter'
          ? { mode: 'parallel', wait: false, supersedes: [] }
          : { superseded: false },
      'arn:aws:states:::lambda:invoke.waitForTaskToken': async () => {
        throw new Error('fake RequestApproval must not be reached');
      },
    });
    engineRef = engine;

    const { executionArn } = await engine.startExecution({
      name: 'github-fake-delivery',
      input: JSON.stringify(push),
    });
    const final = await engine.waitForExecution(executionArn);
    const events = engine.getExecutionHistory(executionArn, { maxResults: 1000 }).events;

    expect(statePath(events)).toEqual([
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
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(final).toMatchObject({ status: 'FAILED', error: 'DeploymentFailedError' });
    expect(runnerEnvs.at(-1)).toMatchObject({
      STEPLINE_IMAGE_REPOSITORY: 'acme/fake-service',
      STEPLINE_COMMIT_TIME: '2026-11-30T05:00:00Z',
    });
    expect(
      runnerEnvs.map((env) => [env.STEPLINE_STAGE, env.STEPLINE_REF_TYPE, env.STEPLINE_REF_NAME]),
    ).toEqual([
      ['build', 'branch', 'feature/login'],
      ['test', 'branch', 'feature/login'],
      ['publish', 'branch', 'feature/login'],
    ]);
    expect(reports).toEqual([
      expect.objectContaining({
        status: 'pending',
        run: expect.objectContaining({ name: 'github-fake-delivery' }),
      }),
      // The final reports get the whole state only: the push is in it, and twice would not fit.
      {
        status: 'failure',
        state: expect.objectContaining({
          failure: expect.objectContaining({ Error: 'DeploymentFailedError' }),
        }),
      },
    ]);
  });
});
