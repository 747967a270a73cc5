import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registryImageSource } from '#local/ecs/images.ts';
import { LocalEcs, runnerImage } from '#local/ecs/local-ecs.ts';
import { ecsRunTaskHandler } from '#local/ecs/run-task.ts';
import type { TaskContext } from '#local/sfn/engine.ts';
import { localSubstitutions } from '#local/substitutions.ts';
import { TaskInputError } from '#shared/errors.ts';

/**
 * What a `cdk deploy` does to the runner while executions are in flight: CloudFormation registers a
 * new revision of the family and deregisters the old one. The state machine names the family (as the
 * stack and the local runtime render it), so its next RunTask runs the new revision; a revisioned
 * reference would be refused, as ECS refuses RunTask of an INACTIVE revision.
 */
const family = 'Stepline-runner';

let dir: string;
let ecs: LocalEcs;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stepline-ecs-family-'));
  const runnerPath = join(dir, 'runner.mjs');
  writeFileSync(runnerPath, "console.log('REVISION=' + process.env.REVISION);\n");
  ecs = await LocalEcs.start({ dataDir: dir, images: registryImageSource(), runnerPath });
  ecs.ensureCluster('stepline-local');
});

afterEach(async () => {
  await ecs.close();
  rmSync(dir, { recursive: true, force: true });
});

function register(revisionLabel: string): string {
  const { taskDefinition } = ecs.registerTaskDefinition({
    family,
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    cpu: '1024',
    memory: '2048',
    containerDefinitions: [
      {
        name: 'runner',
        image: runnerImage,
        essential: true,
        environment: [{ name: 'REVISION', value: revisionLabel }],
      },
    ],
  });
  return taskDefinition.taskDefinitionArn;
}

async function runTask(taskDefinition: string) {
  const handler = ecsRunTaskHandler(ecs, { taskLogDir: join(dir, 'task-logs') });
  const ctx: TaskContext = {
    executionArn: 'arn:aws:states:local:000000000000:execution:stepline-pipeline:push-1',
    executionName: 'push-1',
    stateName: 'Test',
    resource: 'arn:aws:states:::ecs:runTask.waitForTaskToken',
    taskToken: 'token',
    signal: new AbortController().signal,
  };
  const input = {
    LaunchType: 'FARGATE',
    Cluster: localSubstitutions.RunnerClusterArn,
    TaskDefinition: taskDefinition,
    Overrides: { ContainerOverrides: [{ Name: 'runner', Environment: [] }] },
  };
  return (await handler(input, ctx)) as { tasks: { taskDefinitionArn: string }[] };
}

describe('RunTask of a task-definition family across a redeploy (issue 10)', () => {
  it('runs the latest ACTIVE revision when the state names the family and the old revision is deregistered', async () => {
    const first = register('1');
    const second = register('2');
    ecs.deregisterTaskDefinition({ taskDefinition: first });

    const result = await runTask(family);

    expect(result.tasks[0]!.taskDefinitionArn).toBe(second);
  });

  it('accepts the family as an ARN without a revision too', async () => {
    register('1');
    const second = register('2');

    const result = await runTask(`arn:aws:ecs:us-east-1:000000000000:task-definition/${family}`);

    expect(result.tasks[0]!.taskDefinitionArn).toBe(second);
  });

  it('refuses the deregistered revision, which is what a revisioned reference in flight would hit', async () => {
    const first = register('1');
    register('2');
    ecs.deregisterTaskDefinition({ taskDefinition: first });

    const run = runTask(first);

    await expect(run).rejects.toBeInstanceOf(TaskInputError);
    await expect(run).rejects.toThrow(/TaskDefinition is inactive/);
  });

  it('is how the local runtime renders the runner and publisher: families without a revision', () => {
    expect(localSubstitutions.RunnerTaskDefinitionArn).toBe('stepline-runner');
    expect(localSubstitutions.PublisherTaskDefinitionArn).toBe('stepline-publisher');
  });
});
