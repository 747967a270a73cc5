import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTasksCommand, ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EcsApiServer, startEcsApiServer } from '#local/ecs/api-server.ts';
import type { ContainerExit } from '#local/ecs/containers.ts';
import { registryImageSource } from '#local/ecs/images.ts';
import { LocalEcs } from '#local/ecs/local-ecs.ts';
import { ecsRunTaskHandler, registerRunnerTaskDefinitions } from '#local/ecs/run-task.ts';
import type { TaskContext } from '#local/sfn/engine.ts';
import { localSubstitutions } from '#local/substitutions.ts';
import { TaskInputError } from '#shared/errors.ts';
import { testCredentials } from '../../helpers/local-auth.ts';

/** Stands in for the bundled runner: prints the environment it was given, exits with EXIT_CODE. */
const fakeRunner = `
for (const key of ['SHARED', 'OVERRIDDEN', 'STEPLINE_STAGE', 'STEPLINE_REGISTRY']) console.log(key + '=' + (process.env[key] ?? '(unset)'));
process.exitCode = Number(process.env.EXIT_CODE ?? 0);
`;

let dir: string;
let ecs: LocalEcs;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stepline-ecs-run-task-'));
  const runnerPath = join(dir, 'runner.mjs');
  writeFileSync(runnerPath, fakeRunner);
  ecs = await LocalEcs.start({ dataDir: dir, images: registryImageSource(), runnerPath });
  ecs.ensureCluster('stepline-local');
  registerRunnerTaskDefinitions(ecs, {
    taskEnv: { SHARED: 'from the task definition', OVERRIDDEN: 'from the task definition' },
    publisherEnv: { STEPLINE_REGISTRY: '127.0.0.1:5000' },
  });
});

afterEach(async () => {
  await ecs.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The parameters the state machine's runTask states pass, rendered with the local names. */
function stateParameters(taskDefinition: string, env: Record<string, string>, container = 'runner') {
  return {
    LaunchType: 'FARGATE',
    Cluster: localSubstitutions.RunnerClusterArn,
    TaskDefinition: taskDefinition,
    NetworkConfiguration: {
      AwsvpcConfiguration: {
        Subnets: ['subnet-local'],
        SecurityGroups: ['sg-local'],
        AssignPublicIp: 'DISABLED',
      },
    },
    Overrides: {
      ContainerOverrides: [
        { Name: container, Environment: Object.entries(env).map(([Name, Value]) => ({ Name, Value })) },
      ],
    },
  };
}

async function runState(taskDefinition: string, env: Record<string, string>, stateName = 'Build') {
  let reportExit!: (exit: ContainerExit) => void;
  const exited = new Promise<ContainerExit>((resolve) => {
    reportExit = resolve;
  });
  const handler = ecsRunTaskHandler(ecs, {
    taskLogDir: join(dir, 'task-logs'),
    onExit: (exit) => reportExit(exit),
  });
  const ctx: TaskContext = {
    executionArn: 'arn:aws:states:local:000000000000:execution:stepline-pipeline:push-1',
    executionName: 'push-1',
    stateName,
    resource: 'arn:aws:states:::ecs:runTask.waitForTaskToken',
    taskToken: 'token',
    signal: new AbortController().signal,
  };
  const result = (await handler(stateParameters(taskDefinition, env), ctx)) as {
    tasks: { taskArn: string }[];
  };
  return {
    result,
    exit: await exited,
    log: () => readFileSync(join(dir, 'task-logs', 'push-1', `${stateName}.log`), 'utf8'),
  };
}

describe('RunTask of the runner task definitions', () => {
  it('gives the runner its task definition’s environment, then the container override’s', async () => {
    const { log, exit } = await runState(localSubstitutions.RunnerTaskDefinitionArn, {
      OVERRIDDEN: 'from the override',
      STEPLINE_STAGE: 'build',
    });

    expect(exit.code).toBe(0);
    expect(log()).toContain('SHARED=from the task definition\n');
    expect(log()).toContain('OVERRIDDEN=from the override\n');
    expect(log()).toContain('STEPLINE_STAGE=build\n');
    expect(log()).toContain('STEPLINE_REGISTRY=(unset)\n');
  });

  it('runs the publish stage in the publisher task definition, with the registry environment', async () => {
    const { log } = await runState(
      localSubstitutions.PublisherTaskDefinitionArn,
      { STEPLINE_STAGE: 'publish' },
      'PublishImage',
    );

    expect(log()).toContain('STEPLINE_REGISTRY=127.0.0.1:5000\n');
  });

  it('accepts the repository’s TaskRoleArn override and runs the task with the runtime’s own credentials', async () => {
    const handler = ecsRunTaskHandler(ecs, { taskLogDir: join(dir, 'task-logs') });
    const parameters = stateParameters(localSubstitutions.RunnerTaskDefinitionArn, {
      STEPLINE_STAGE: 'build',
    });
    const ctx: TaskContext = {
      executionArn: 'arn:aws:states:local:000000000000:execution:stepline-pipeline:push-1',
      executionName: 'push-1',
      stateName: 'Build',
      resource: 'arn:aws:states:::ecs:runTask.waitForTaskToken',
      taskToken: 'token',
      signal: new AbortController().signal,
    };

    const result = (await handler(
      {
        ...parameters,
        Overrides: {
          ...parameters.Overrides,
          TaskRoleArn: 'arn:aws:iam::000000000000:role/stepline-local-runner',
        },
      },
      ctx,
    )) as { tasks: { taskArn: string }[] };

    expect(result.tasks).toHaveLength(1);
  });

  it('reports the runner’s exit code, and the task as STOPPED with it', async () => {
    const { exit, result } = await runState('stepline-runner:1', { EXIT_CODE: '3' });

    expect(exit.code).toBe(3);
    const described = ecs.describeTasks({ cluster: 'stepline-local', tasks: [result.tasks[0]!.taskArn] });
    expect(described.tasks[0]).toMatchObject({
      lastStatus: 'STOPPED',
      stoppedReason: 'Essential container in task exited',
      taskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/stepline-runner:1',
    });
    expect(described.tasks[0]!.containers[0]).toMatchObject({ name: 'runner', exitCode: 3 });
  });

  it('refuses an override for a container the task definition does not have, naming it', async () => {
    const handler = ecsRunTaskHandler(ecs, { taskLogDir: join(dir, 'task-logs') });
    const ctx = {
      executionArn: 'x',
      executionName: 'push-1',
      stateName: 'Build',
      resource: 'r',
      signal: new AbortController().signal,
    };

    const run = handler(stateParameters('stepline-runner:1', {}, 'builder'), ctx);

    await expect(run).rejects.toBeInstanceOf(TaskInputError);
    await expect(run).rejects.toThrow(
      'Override for container named builder is not a container in the TaskDefinition.',
    );
  });

  it('answers RunTask through the ECS endpoint, the task visible with DescribeTasks', async () => {
    const server: EcsApiServer = await startEcsApiServer(ecs, { credentials: testCredentials });
    const client = new ECSClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    try {
      const ran = await client.send(
        new RunTaskCommand({
          cluster: 'stepline-local',
          taskDefinition: 'stepline-runner',
          overrides: {
            containerOverrides: [{ name: 'runner', environment: [{ name: 'OVERRIDDEN', value: 'sdk' }] }],
          },
        }),
      );
      const arn = ran.tasks![0]!.taskArn!;
      await expect
        .poll(
          async () =>
            (await client.send(new DescribeTasksCommand({ cluster: 'stepline-local', tasks: [arn] })))
              .tasks![0]!.lastStatus,
        )
        .toBe('STOPPED');
      const id = arn.split('/').at(-1)!;
      expect(readFileSync(join(dir, 'ecs', 'logs', 'tasks', `${id}.log`), 'utf8')).toContain(
        'OVERRIDDEN=sdk\n',
      );
    } finally {
      client.destroy();
      await server.close();
    }
  });
});
