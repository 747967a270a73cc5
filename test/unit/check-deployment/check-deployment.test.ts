import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type CheckDeploymentDeps, checkDeployment } from '#functions/check-deployment/check-deployment.ts';
import type { DeploymentState } from '#shared/deployment.ts';
import { DeploymentFailedError, DeploymentTimedOutError, TaskInputError } from '#shared/errors.ts';
import {
  cluster,
  commit,
  deployment,
  describeServices,
  describeTaskDefinition,
  family,
  image,
  makeConfig,
  newArn,
  run,
  runningArn,
  runningTaskDefinition,
  service,
  serviceName,
  silentLogger,
  steplineTags,
} from '../deploy/fixtures.ts';

const ecsMock = mockClient(ECSClient);
const startedAt = '2024-05-01T10:01:00.000Z';
const ourId = 'ecs-svc/2222222222222222222';
const previousId = 'ecs-svc/1111111111111111111';

/** What Deploy returned: revision 42 of commit c… rolling out over 41. */
function rollingOut(overrides: Partial<DeploymentState> = {}): DeploymentState {
  return {
    environment: 'staging',
    outcome: 'Deploying',
    cluster,
    service: serviceName,
    container: 'app',
    commit,
    imageUri: image.uri,
    taskDefinitionArn: newArn,
    previousTaskDefinitionArn: runningArn,
    previousCommit: 'b'.repeat(40),
    deploymentId: ourId,
    rolloutState: 'IN_PROGRESS',
    startedAt,
    deadline: '2024-05-01T10:11:00.000Z',
    url: 'https://staging.hello.example.com',
    checks: 2,
    ...overrides,
  };
}

interface Fetched {
  urls: string[];
}

function deps(
  options: { now?: string; statuses?: number[]; config?: CheckDeploymentDeps['config'] } = {},
): CheckDeploymentDeps & Fetched {
  const urls: string[] = [];
  const statuses = [...(options.statuses ?? [200])];
  return {
    urls,
    ecs: new ECSClient({ region: 'eu-west-1' }),
    config: options.config ?? makeConfig(),
    logger: silentLogger,
    now: () => new Date(options.now ?? '2024-05-01T10:03:00.000Z'),
    sleep: async () => {},
    fetch: async (input) => {
      urls.push(String(input));
      return new Response('ok', { status: statuses.shift() ?? 200 });
    },
  };
}

/** The service with our deployment as PRIMARY in `rolloutState`, the previous one ACTIVE. */
function arrangeService(
  rolloutState: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED',
  extra: Parameters<typeof service>[0] = {},
) {
  ecsMock.on(DescribeServicesCommand).resolves(
    describeServices(
      service({
        taskDefinition: newArn,
        deployments: [
          deployment({ id: ourId, taskDefinition: newArn, rolloutState, createdAt: new Date(startedAt) }),
          deployment({ id: previousId, status: 'ACTIVE' }),
        ],
        ...extra,
      }),
    ),
  );
  ecsMock.on(UpdateServiceCommand).resolves({ service: service() });
}

afterEach(() => {
  ecsMock.reset();
});

describe('checkDeployment', () => {
  it('returns the same state with one more check while the rollout is in progress', async () => {
    arrangeService('IN_PROGRESS');

    const state = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, deps());

    expect(state).toEqual({ ...rollingOut(), checks: 3 });
    expect(ecsMock.commandCalls(DescribeServicesCommand)[0]!.args[0].input).toMatchObject({
      cluster,
      services: [serviceName],
    });
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('ends as Completed once ECS says the rollout completed', async () => {
    arrangeService('COMPLETED');

    const state = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, deps());

    expect(state).toMatchObject({ outcome: 'Completed', rolloutState: 'COMPLETED', checks: 3 });
  });

  it('requires the smoke path on the service URL to answer 2xx after completion', async () => {
    arrangeService('COMPLETED');
    const d = deps({ config: makeConfig({ smokePath: '/healthz' }), statuses: [503, 200] });

    const state = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, d);

    expect(state.outcome).toBe('Completed');
    expect(d.urls).toEqual([
      'https://staging.hello.example.com/healthz',
      'https://staging.hello.example.com/healthz',
    ]);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('rolls back to the previous revision and fails when the smoke URL never answers 2xx', async () => {
    arrangeService('COMPLETED');
    const d = deps({
      config: makeConfig({ smokeUrl: 'https://staging.hello.example.com/ready' }),
      statuses: [500, 500, 500, 500, 500],
    });

    const error = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, d).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toContain(
      'the smoke check https://staging.hello.example.com/ready did not answer 2xx in 5 tries (last: HTTP 500); rolled back to',
    );
    expect(d.urls).toHaveLength(5);
    const updates = ecsMock.commandCalls(UpdateServiceCommand);
    expect(updates).toHaveLength(1);
    expect(updates[0]!.args[0].input).toMatchObject({
      cluster,
      service: serviceName,
      taskDefinition: runningArn,
      deploymentConfiguration: {
        deploymentCircuitBreaker: { enable: true, rollback: true },
        minimumHealthyPercent: 50,
        maximumPercent: 150,
      },
      forceNewDeployment: false,
    });
  });

  it('fails without rolling back when the image was already serving before this run and fails the smoke check', async () => {
    arrangeService('COMPLETED');
    const d = deps({ config: makeConfig({ smokePath: '/healthz' }), statuses: [500, 500, 500, 500, 500] });

    const error = await checkDeployment(
      { environment: 'staging', deployment: rollingOut({ outcome: 'Completed', rolloutState: 'COMPLETED' }) },
      d,
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toContain('so nothing was put back');
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it("fails quoting ECS's service events since the start when the circuit breaker failed the rollout", async () => {
    arrangeService('FAILED', {
      events: [
        {
          id: '3',
          createdAt: new Date('2024-05-01T10:02:30Z'),
          message: '(service hello-staging) rolling back to deployment ecs-svc/1111111111111111111.',
        },
        {
          id: '2',
          createdAt: new Date('2024-05-01T10:02:20Z'),
          message:
            '(service hello-staging) (deployment ecs-svc/2222222222222222222) deployment failed: tasks failed to start.',
        },
        {
          id: '1',
          createdAt: new Date('2024-05-01T09:00:00Z'),
          message: '(service hello-staging) has reached a steady state.',
        },
      ],
    });

    const error = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, deps()).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(DeploymentFailedError);
    const message = (error as Error).message;
    expect(message).toContain(
      `staging rollout of ${newArn} (commit cccccccccccc) to apps/hello-staging failed`,
    );
    expect(message).toContain(
      '2024-05-01T10:02:20.000Z (service hello-staging) (deployment ecs-svc/2222222222222222222) deployment failed: tasks failed to start.\n  2024-05-01T10:02:30.000Z (service hello-staging) rolling back to deployment ecs-svc/1111111111111111111.',
    );
    expect(message).not.toContain('steady state');
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('fails when the circuit breaker put the previous revision back and our deployment is gone', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          deployments: [
            deployment({ id: 'ecs-svc/rollback', taskDefinition: runningArn, rolloutState: 'IN_PROGRESS' }),
          ],
          events: [
            {
              createdAt: new Date('2024-05-01T10:02:00Z'),
              message: '(service hello-staging) (task 0123) failed container health checks.',
            },
          ],
        }),
      ),
    );

    const error = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, deps()).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toContain(`the service was rolled back to ${runningArn}`);
    expect((error as Error).message).toContain('failed container health checks');
  });

  it('puts the previous revision back and times out when the rollout is still in progress past its deadline', async () => {
    arrangeService('IN_PROGRESS', {
      events: [
        {
          createdAt: new Date('2024-05-01T10:05:00Z'),
          message: '(service hello-staging) has started 1 tasks.',
        },
      ],
    });

    const error = await checkDeployment(
      { environment: 'staging', deployment: rollingOut() },
      deps({ now: '2024-05-01T10:11:01.000Z' }),
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentTimedOutError);
    expect((error as Error).message).toContain(
      `did not complete by its deadline 2024-05-01T10:11:00.000Z (repositories[1].deploy.staging.timeoutSeconds = 600); rolled back to ${runningArn}`,
    );
    expect((error as Error).message).toContain('has started 1 tasks');
    const updates = ecsMock.commandCalls(UpdateServiceCommand);
    expect(updates).toHaveLength(1);
    expect(updates[0]!.args[0].input.taskDefinition).toBe(runningArn);
  });

  it('ends as Superseded, not failed, when a later push of the same branch replaced the rollout', async () => {
    const laterArn = `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:43`;
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          taskDefinition: laterArn,
          deployments: [
            deployment({ id: 'ecs-svc/later', taskDefinition: laterArn, rolloutState: 'IN_PROGRESS' }),
            deployment({ id: ourId, status: 'ACTIVE', taskDefinition: newArn, rolloutState: 'IN_PROGRESS' }),
          ],
        }),
      ),
    );
    ecsMock
      .on(DescribeTaskDefinitionCommand, { taskDefinition: newArn })
      .resolves(
        describeTaskDefinition(
          runningTaskDefinition({ taskDefinitionArn: newArn }),
          steplineTags({ commit, startedAt: run.startedAt, execution: run.name }),
        ),
      );
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: laterArn }).resolves(
      describeTaskDefinition(
        runningTaskDefinition({ taskDefinitionArn: laterArn }),
        steplineTags({
          commit: 'f'.repeat(40),
          startedAt: '2024-05-01T10:02:00.000Z',
          execution: 'github-delivery-8',
        }),
      ),
    );

    const state = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, deps());

    expect(state).toMatchObject({ outcome: 'Superseded', supersededBy: 'f'.repeat(40) });
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('follows its revision to the deployment that put it back after a raced update was withdrawn', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          taskDefinition: newArn,
          deployments: [
            deployment({ id: 'ecs-svc/restored', taskDefinition: newArn, rolloutState: 'IN_PROGRESS' }),
            deployment({ id: previousId, status: 'ACTIVE' }),
          ],
        }),
      ),
    );

    const state = await checkDeployment({ environment: 'staging', deployment: rollingOut() }, deps());

    expect(state).toMatchObject({ deploymentId: 'ecs-svc/restored', rolloutState: 'IN_PROGRESS', checks: 3 });
  });

  it('passes a superseded state through without asking ECS', async () => {
    const superseded = rollingOut({
      outcome: 'Superseded',
      rolloutState: 'COMPLETED',
      supersededBy: 'f'.repeat(40),
    });

    const state = await checkDeployment({ environment: 'staging', deployment: superseded }, deps());

    expect(state).toEqual(superseded);
    expect(ecsMock.calls()).toHaveLength(0);
  });

  it('rejects a deployment state without a deadline, naming the field', async () => {
    const { deadline: _, ...withoutDeadline } = rollingOut();

    const error = await checkDeployment(
      { environment: 'staging', deployment: withoutDeadline },
      deps(),
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TaskInputError);
    expect((error as Error).message).toContain('deployment.deadline');
  });
});
