import {
  AccessDeniedException,
  ClusterNotFoundException,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  copyRevision,
  type DeployDeps,
  deploy,
  readOnlyTaskDefinitionFields,
} from '#functions/deploy/deploy.ts';
import { tagValue } from '#functions/deploy/ecs.ts';
import { DeploymentFailedError, DeploymentInProgressError, TaskInputError } from '#shared/errors.ts';
import {
  cluster,
  commit,
  deployment,
  describeServices,
  describeTaskDefinition,
  executionRoleArn,
  family,
  image,
  makeConfig,
  makePush,
  newArn,
  olderArn,
  rolloutInput,
  run,
  runningArn,
  runningCommit,
  runningTags,
  runningTaskDefinition,
  service,
  serviceName,
  silentLogger,
  steplineTags,
} from './fixtures.ts';

const ecsMock = mockClient(ECSClient);
const now = new Date('2024-05-01T10:01:00.000Z');
const newDeploymentId = 'ecs-svc/2222222222222222222';

function deps(overrides: Partial<DeployDeps> = {}): DeployDeps {
  return {
    ecs: new ECSClient({ region: 'eu-west-1' }),
    config: makeConfig(),
    logger: silentLogger,
    now: () => now,
    ...overrides,
  };
}

/** The service runs revision 41 (commit b…, pushed to main at 09:00) and accepts an update to 42. */
function arrangeRunningService(options: { definition?: TaskDefinition; tags?: typeof runningTags } = {}) {
  const definition = options.definition ?? runningTaskDefinition();
  ecsMock.on(DescribeServicesCommand).resolves(describeServices(service()));
  ecsMock
    .on(DescribeTaskDefinitionCommand, { taskDefinition: runningArn })
    .resolves(describeTaskDefinition(definition, options.tags ?? runningTags));
  ecsMock
    .on(DescribeTaskDefinitionCommand, { taskDefinition: olderArn })
    .resolves(
      describeTaskDefinition(runningTaskDefinition({ taskDefinitionArn: olderArn, revision: 40 }), [
        { key: 'stepline:commit', value: 'a'.repeat(40) },
      ]),
    );
  ecsMock.on(RegisterTaskDefinitionCommand).callsFake((input) => ({
    taskDefinition: { ...input, taskDefinitionArn: newArn, revision: 42, status: 'ACTIVE' },
    tags: input.tags,
  }));
  ecsMock.on(UpdateServiceCommand).callsFake((input) => ({
    service: service({
      taskDefinition: input.taskDefinition,
      deployments: [
        deployment({
          id: newDeploymentId,
          taskDefinition: input.taskDefinition,
          rolloutState: 'IN_PROGRESS',
          runningCount: 0,
          createdAt: now,
        }),
        deployment({ status: 'ACTIVE' }),
      ],
    }),
  }));
}

afterEach(() => {
  ecsMock.reset();
});

describe('deploy: a rollout', () => {
  it('registers a copy of the running revision that differs only in the target image and the tags', async () => {
    arrangeRunningService();

    await deploy(rolloutInput(), deps());

    const calls = ecsMock.commandCalls(RegisterTaskDefinitionCommand);
    expect(calls).toHaveLength(1);
    const registered = calls[0]!.args[0].input;
    const running = runningTaskDefinition();
    const { containerDefinitions, ...rest } = registered;
    for (const field of readOnlyTaskDefinitionFields) expect(rest).not.toHaveProperty(field);
    const expectedRest = Object.fromEntries(
      Object.entries(running).filter(
        ([key]) =>
          key !== 'containerDefinitions' &&
          !(readOnlyTaskDefinitionFields as readonly string[]).includes(key),
      ),
    );
    expect({ ...rest, tags: undefined }).toEqual({ ...expectedRest, tags: undefined });
    expect(containerDefinitions).toEqual([
      { ...running.containerDefinitions![0], image: image.uri },
      running.containerDefinitions![1],
      running.containerDefinitions![2],
    ]);
    expect(registered.tags).toEqual([
      { key: 'team', value: 'payments' },
      { key: 'cost-center', value: 'cc-42' },
      { key: 'stepline:commit', value: commit },
      { key: 'stepline:ref', value: 'refs/heads/main' },
      { key: 'stepline:started-at', value: run.startedAt },
      { key: 'stepline:execution', value: run.name },
      { key: 'stepline:environment', value: 'staging' },
      { key: 'stepline:previous', value: runningArn },
    ]);
  });

  it('updates the service to the new revision with the circuit breaker on and the configured percents', async () => {
    arrangeRunningService();

    await deploy(rolloutInput(), deps());

    const calls = ecsMock.commandCalls(UpdateServiceCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      cluster,
      service: serviceName,
      taskDefinition: newArn,
      deploymentConfiguration: {
        deploymentCircuitBreaker: { enable: true, rollback: true },
        minimumHealthyPercent: 50,
        maximumPercent: 150,
        alarms: { alarmNames: ['hello-5xx'], enable: true, rollback: true },
      },
      desiredCount: 3,
      forceNewDeployment: false,
    });
  });

  it('describes the service with its tags and the running revision with its tags', async () => {
    arrangeRunningService();

    await deploy(rolloutInput(), deps());

    expect(ecsMock.commandCalls(DescribeServicesCommand)[0]!.args[0].input).toEqual({
      cluster,
      services: [serviceName],
      include: ['TAGS'],
    });
    expect(ecsMock.commandCalls(DescribeTaskDefinitionCommand)[0]!.args[0].input).toEqual({
      taskDefinition: runningArn,
      include: ['TAGS'],
    });
  });

  it('returns the rollout: previous revision and commit, deployment id, start, deadline and URL', async () => {
    arrangeRunningService();

    const state = await deploy(rolloutInput(), deps());

    expect(state).toEqual({
      environment: 'staging',
      outcome: 'Deploying',
      cluster,
      service: serviceName,
      container: 'app',
      commit,
      imageUri: image.uri,
      taskDefinitionArn: newArn,
      previousTaskDefinitionArn: runningArn,
      previousCommit: runningCommit,
      deploymentId: newDeploymentId,
      rolloutState: 'IN_PROGRESS',
      startedAt: now.toISOString(),
      deadline: '2024-05-01T10:11:00.000Z',
      url: 'https://staging.hello.example.com',
      checks: 0,
    });
  });

  it("takes the URL from the service's stepline:url tag when the configuration names none", async () => {
    arrangeRunningService();

    const state = await deploy(rolloutInput(), deps({ config: makeConfig({ url: undefined }) }));

    expect(state.url).toBe('http://127.0.0.1:41001');
  });

  it('ends as Superseded, touching nothing, when the service runs a later push of the same branch', async () => {
    arrangeRunningService({
      tags: steplineTags({
        commit: 'f'.repeat(40),
        startedAt: '2024-05-01T10:00:06.000Z',
        execution: 'github-delivery-8',
      }),
    });

    const state = await deploy(rolloutInput(), deps());

    expect(state).toMatchObject({
      outcome: 'Superseded',
      rolloutState: 'COMPLETED',
      supersededBy: 'f'.repeat(40),
      previousTaskDefinitionArn: runningArn,
    });
    expect(state.taskDefinitionArn).toBeUndefined();
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('rolls out over a later push of another branch: only the same ref is ordered', async () => {
    arrangeRunningService({
      tags: steplineTags({
        commit: 'f'.repeat(40),
        startedAt: '2024-05-01T10:00:06.000Z',
        execution: 'github-delivery-8',
        ref: 'refs/heads/release',
      }),
    });

    const state = await deploy(rolloutInput(), deps());

    expect(state.outcome).toBe('Deploying');
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(1);
  });

  it('ends as Completed without a rollout when exactly this image already serves', async () => {
    const running = runningTaskDefinition();
    arrangeRunningService({
      definition: {
        ...running,
        containerDefinitions: running.containerDefinitions!.map((c) =>
          c.name === 'app' ? { ...c, image: image.uri } : c,
        ),
      },
    });

    const state = await deploy(rolloutInput(), deps());

    expect(state).toMatchObject({
      outcome: 'Completed',
      rolloutState: 'COMPLETED',
      taskDefinitionArn: runningArn,
      previousTaskDefinitionArn: olderArn,
      deploymentId: 'ecs-svc/1111111111111111111',
    });
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('throws DeploymentInProgressError, registering nothing, while another execution rolls out', async () => {
    arrangeRunningService();
    const otherArn = `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:43`;
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          deployments: [
            deployment({ id: 'ecs-svc/333', taskDefinition: otherArn, rolloutState: 'IN_PROGRESS' }),
            deployment({ status: 'ACTIVE' }),
          ],
        }),
      ),
    );
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: otherArn }).resolves(
      describeTaskDefinition(
        runningTaskDefinition({ taskDefinitionArn: otherArn, revision: 43 }),
        steplineTags({
          commit: 'e'.repeat(40),
          startedAt: '2024-05-01T09:59:00.000Z',
          execution: 'github-delivery-5',
        }),
      ),
    );

    const error = await deploy(rolloutInput(), deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentInProgressError);
    expect((error as Error).message).toContain('execution github-delivery-5');
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('ends as Superseded rather than waiting when the rollout under way is of a later push', async () => {
    arrangeRunningService();
    const otherArn = `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:43`;
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          deployments: [
            deployment({ id: 'ecs-svc/333', taskDefinition: otherArn, rolloutState: 'IN_PROGRESS' }),
            deployment({ status: 'ACTIVE' }),
          ],
        }),
      ),
    );
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: otherArn }).resolves(
      describeTaskDefinition(
        runningTaskDefinition({ taskDefinitionArn: otherArn, revision: 43 }),
        steplineTags({
          commit: 'e'.repeat(40),
          startedAt: '2024-05-01T10:00:30.000Z',
          execution: 'github-delivery-9',
        }),
      ),
    );

    const state = await deploy(rolloutInput(), deps());

    expect(state).toMatchObject({
      outcome: 'Superseded',
      supersededBy: 'e'.repeat(40),
      deploymentId: 'ecs-svc/333',
    });
  });

  it('reports the rollout it already started when the state machine retries it', async () => {
    arrangeRunningService();
    const startedAt = new Date('2024-05-01T10:00:40.000Z');
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          taskDefinition: newArn,
          deployments: [
            deployment({
              id: newDeploymentId,
              taskDefinition: newArn,
              rolloutState: 'IN_PROGRESS',
              createdAt: startedAt,
            }),
            deployment({ status: 'ACTIVE' }),
          ],
        }),
      ),
    );
    ecsMock
      .on(DescribeTaskDefinitionCommand, { taskDefinition: newArn })
      .resolves(
        describeTaskDefinition(
          runningTaskDefinition({ taskDefinitionArn: newArn, revision: 42 }),
          steplineTags({ commit, startedAt: run.startedAt, execution: run.name, previous: runningArn }),
        ),
      );

    const state = await deploy(rolloutInput(), deps());

    expect(state).toMatchObject({
      outcome: 'Deploying',
      taskDefinitionArn: newArn,
      previousTaskDefinitionArn: runningArn,
      previousCommit: runningCommit,
      deploymentId: newDeploymentId,
      startedAt: startedAt.toISOString(),
      deadline: '2024-05-01T10:10:40.000Z',
    });
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('rolls out anew, not adopting it, when its own earlier deployment was withdrawn after a race', async () => {
    arrangeRunningService();
    const withdrawnArn = `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:43`;
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          deployments: [
            deployment(),
            deployment({
              id: 'ecs-svc/withdrawn',
              status: 'ACTIVE',
              taskDefinition: withdrawnArn,
              rolloutState: 'COMPLETED',
            }),
          ],
        }),
      ),
    );
    ecsMock
      .on(DescribeTaskDefinitionCommand, { taskDefinition: withdrawnArn })
      .resolves(
        describeTaskDefinition(
          runningTaskDefinition({ taskDefinitionArn: withdrawnArn, revision: 43 }),
          steplineTags({ commit, startedAt: run.startedAt, execution: run.name }),
        ),
      );

    const state = await deploy(rolloutInput(), deps());

    expect(state).toMatchObject({
      outcome: 'Deploying',
      taskDefinitionArn: newArn,
      deploymentId: newDeploymentId,
    });
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(1);
  });

  it('withdraws its update and waits when another rollout updated the service at the same moment', async () => {
    arrangeRunningService();
    const racerArn = `arn:aws:ecs:eu-west-1:123456789012:task-definition/${family}:43`;
    ecsMock.on(DescribeTaskDefinitionCommand, { taskDefinition: racerArn }).resolves(
      describeTaskDefinition(
        runningTaskDefinition({ taskDefinitionArn: racerArn, revision: 43 }),
        steplineTags({
          commit: 'e'.repeat(40),
          startedAt: '2024-05-01T10:00:01.000Z',
          execution: 'github-delivery-racer',
        }),
      ),
    );
    ecsMock
      .on(UpdateServiceCommand)
      .resolvesOnce({
        service: service({
          taskDefinition: newArn,
          deployments: [
            deployment({
              id: newDeploymentId,
              taskDefinition: newArn,
              rolloutState: 'IN_PROGRESS',
              createdAt: now,
            }),
            deployment({
              id: 'ecs-svc/racer',
              status: 'ACTIVE',
              taskDefinition: racerArn,
              rolloutState: 'IN_PROGRESS',
              createdAt: new Date(now.getTime() - 500),
            }),
            deployment({ status: 'ACTIVE' }),
          ],
        }),
      })
      .resolves({ service: service() });

    const error = await deploy(rolloutInput(), deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentInProgressError);
    expect((error as Error).message).toContain('execution github-delivery-racer');
    const updates = ecsMock.commandCalls(UpdateServiceCommand);
    expect(updates.map((call) => call.args[0].input.taskDefinition)).toEqual([newArn, racerArn]);
    expect(updates[1]!.args[0].input.deploymentConfiguration?.deploymentCircuitBreaker).toEqual({
      enable: true,
      rollback: true,
    });
  });

  it('fails naming the service and the config path when the service does not exist, touching nothing', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({
      services: [],
      failures: [
        { arn: `arn:aws:ecs:eu-west-1:123456789012:service/${cluster}/${serviceName}`, reason: 'MISSING' },
      ],
    });

    const error = await deploy(rolloutInput(), deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toBe(
      'service "hello-staging" in cluster "apps" (repositories[1].deploy.staging) does not exist',
    );
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('fails naming the cluster when the cluster does not exist', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .rejects(new ClusterNotFoundException({ message: 'Cluster not found.', $metadata: {} }));

    const error = await deploy(rolloutInput(), deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toBe(
      'cluster "apps" does not exist (repositories[1].deploy.staging.cluster)',
    );
  });

  it('fails when the service is draining', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(describeServices(service({ status: 'DRAINING' })));

    await expect(deploy(rolloutInput(), deps())).rejects.toThrow(/is DRAINING, not ACTIVE/);
  });

  it('fails listing the containers when the configured container is not in the task definition', async () => {
    arrangeRunningService();

    const error = await deploy(rolloutInput(), deps({ config: makeConfig({ container: 'web' }) })).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toContain(
      'has no container "web" (repositories[1].deploy.staging.container); its containers: "app", "log-router", "metrics"',
    );
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });

  it('fails before registering when the running revision passes a role the configuration does not name', async () => {
    arrangeRunningService({
      definition: runningTaskDefinition({ executionRoleArn: 'arn:aws:iam::123456789012:role/someone-else' }),
    });

    await expect(deploy(rolloutInput(), deps())).rejects.toThrow(
      `executionRoleArn arn:aws:iam::123456789012:role/someone-else, but repositories[1].deploy.staging.executionRoleArn is ${executionRoleArn}`,
    );
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
  });

  it('names the configured roles when IAM refuses to let it pass the running revision’s role', async () => {
    arrangeRunningService();
    ecsMock.on(RegisterTaskDefinitionCommand).rejects(
      new AccessDeniedException({
        message:
          'User: arn:aws:sts::123456789012:assumed-role/stepline-deploy/x is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/hello-task',
        $metadata: {},
      }),
    );

    const error = await deploy(
      rolloutInput(),
      deps({ config: makeConfig({ taskRoleArn: undefined, executionRoleArn: undefined }) }),
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toContain(
      'the stack lets Deploy pass only the roles set in repositories[1].deploy.staging.taskRoleArn and repositories[1].deploy.staging.executionRoleArn',
    );
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('fails naming the config path when the repository has no target for the environment', async () => {
    const error = await deploy(rolloutInput({ environment: 'production' }), deps()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toContain('set repositories[1].deploy.production');
    expect(ecsMock.calls()).toHaveLength(0);
  });

  it('rejects input whose image is not pinned by digest, naming the field', async () => {
    const error = await deploy(
      rolloutInput({ image: { ...image, uri: `${image.repository}:main` } }),
      deps(),
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TaskInputError);
    expect((error as Error).message).toContain('image.uri');
    expect(ecsMock.calls()).toHaveLength(0);
  });
});

describe('deploy: a rollback', () => {
  it('updates the service to the revision the running one records as previous, registering nothing', async () => {
    arrangeRunningService();

    const state = await deploy(
      {
        environment: 'staging',
        repository: { provider: 'github', fullName: 'acme/hello' },
        reason: 'bad release',
      },
      deps(),
    );

    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    const updates = ecsMock.commandCalls(UpdateServiceCommand);
    expect(updates).toHaveLength(1);
    expect(updates[0]!.args[0].input).toMatchObject({
      cluster,
      service: serviceName,
      taskDefinition: olderArn,
      deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
      forceNewDeployment: false,
    });
    expect(state).toMatchObject({
      outcome: 'Deploying',
      rolloutState: 'IN_PROGRESS',
      taskDefinitionArn: olderArn,
      previousTaskDefinitionArn: runningArn,
      previousCommit: runningCommit,
      commit: 'a'.repeat(40),
      deploymentId: newDeploymentId,
    });
  });

  it('takes a bare revision number as a revision of the running family', async () => {
    arrangeRunningService();
    ecsMock
      .on(DescribeTaskDefinitionCommand, { taskDefinition: `${family}:40` })
      .resolves(describeTaskDefinition(runningTaskDefinition({ taskDefinitionArn: olderArn, revision: 40 })));

    await deploy(
      {
        environment: 'staging',
        repository: { provider: 'github', fullName: 'acme/hello' },
        rollbackTo: '40',
        reason: 'bad release',
      },
      deps(),
    );

    expect(
      ecsMock.commandCalls(DescribeTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition),
    ).toContain(`${family}:40`);
    expect(ecsMock.commandCalls(UpdateServiceCommand)[0]!.args[0].input.taskDefinition).toBe(olderArn);
  });

  it('fails asking for --to when the running revision records no previous one', async () => {
    arrangeRunningService({ tags: [] });

    await expect(
      deploy(
        { environment: 'staging', repository: { provider: 'github', fullName: 'acme/hello' }, reason: 'x' },
        deps(),
      ),
    ).rejects.toThrow(/records no previous revision .*--to/);
  });
});

describe('copyRevision', () => {
  it('keeps a field ECS adds later, drops only the read-only ones', () => {
    const running = { ...runningTaskDefinition(), enableFaultInjection: true, deleteRequestedAt: new Date() };

    const input = copyRevision(running, [], 'app', image.uri, []);

    expect(input.enableFaultInjection).toBe(true);
    expect(input).not.toHaveProperty('deleteRequestedAt');
  });

  it('never copies tags ECS reserves for itself', () => {
    const input = copyRevision(
      runningTaskDefinition(),
      [{ key: 'aws:cloudformation:stack-name', value: 's' }],
      'app',
      image.uri,
      [],
    );

    expect(input.tags).toEqual([]);
  });
});

describe('tagValue', () => {
  it('keeps a ref ECS accepts and hashes one it refuses', async () => {
    expect(await tagValue('refs/heads/feature/login')).toBe('refs/heads/feature/login');
    expect(await tagValue('refs/heads/fix#12')).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await tagValue('refs/heads/fix#12')).toBe(await tagValue('refs/heads/fix#12'));
  });

  it('orders pushes of a hashed ref like any other', async () => {
    arrangeRunningService({
      tags: steplineTags({
        commit: 'f'.repeat(40),
        startedAt: '2024-05-01T10:00:06.000Z',
        execution: 'github-delivery-8',
        ref: await tagValue('refs/heads/fix#12'),
      }),
    });

    const state = await deploy(rolloutInput({ push: makePush({ ref: 'refs/heads/fix#12' }) }), deps());

    expect(state.outcome).toBe('Superseded');
  });
});
