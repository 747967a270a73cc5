import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClientException,
  ClusterNotFoundException,
  CreateClusterCommand,
  CreateServiceCommand,
  DeregisterTaskDefinitionCommand,
  DescribeClustersCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  InvalidParameterException,
  ListServicesCommand,
  ListTagsForResourceCommand,
  ListTaskDefinitionsCommand,
  RegisterTaskDefinitionCommand,
  ServiceNotFoundException,
  TagResourceCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EcsApiServer, startEcsApiServer } from '#local/ecs/api-server.ts';
import { registryImageSource } from '#local/ecs/images.ts';
import { LocalEcs } from '#local/ecs/local-ecs.ts';
import { testCredentials } from '../../helpers/local-auth.ts';

let dataDir: string;
let ecs: LocalEcs;
let server: EcsApiServer;
let client: ECSClient;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'stepline-ecs-api-'));
  ecs = await LocalEcs.start({ dataDir, images: registryImageSource() });
  server = await startEcsApiServer(ecs, { credentials: testCredentials });
  client = new ECSClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterEach(async () => {
  client.destroy();
  await server.close();
  await ecs.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const container = { name: 'app', image: '127.0.0.1:1/acme/web@sha256:'.padEnd(92, 'a'), essential: true };

async function register(family = 'web', extra: Record<string, unknown> = {}) {
  return client.send(
    new RegisterTaskDefinitionCommand({
      family,
      containerDefinitions: [container],
      cpu: '256',
      memory: '512',
      tags: [{ key: 'stepline:commit', value: 'abc123' }],
      ...extra,
    }),
  );
}

describe('ECS JSON endpoint, with the real SDK', () => {
  it('registers revisions 1, 2, … of a family with ECS ARNs', async () => {
    const first = await register();
    const second = await register();

    expect(first.taskDefinition?.taskDefinitionArn).toBe(
      'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
    );
    expect(second.taskDefinition?.revision).toBe(2);
    expect(second.taskDefinition?.status).toBe('ACTIVE');
    expect(second.taskDefinition?.registeredAt).toBeInstanceOf(Date);
  });

  it('describes a revision with every field it was registered with, and its tags when asked', async () => {
    await register('web', { networkMode: 'awsvpc', runtimePlatform: { cpuArchitecture: 'ARM64' } });

    const described = await client.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: 'web:1', include: ['TAGS'] }),
    );

    expect(described.taskDefinition?.containerDefinitions).toEqual([container]);
    expect(described.taskDefinition?.networkMode).toBe('awsvpc');
    expect(described.taskDefinition?.runtimePlatform).toEqual({ cpuArchitecture: 'ARM64' });
    expect(described.tags).toEqual([{ key: 'stepline:commit', value: 'abc123' }]);
  });

  it('finds a family’s latest active revision by name and by an ARN of any region', async () => {
    await register();
    await register();
    await client.send(new DeregisterTaskDefinitionCommand({ taskDefinition: 'web:2' }));

    const latest = await client.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'web' }));
    const byArn = await client.send(
      new DescribeTaskDefinitionCommand({
        taskDefinition: 'arn:aws:ecs:local:000000000000:task-definition/web:2',
      }),
    );

    expect(latest.taskDefinition?.revision).toBe(1);
    expect(byArn.taskDefinition?.status).toBe('INACTIVE');
  });

  it('lists active task definitions by family prefix', async () => {
    await register('web');
    await register('worker');

    const listed = await client.send(new ListTaskDefinitionsCommand({ familyPrefix: 'wor' }));

    expect(listed.taskDefinitionArns).toEqual([
      'arn:aws:ecs:us-east-1:000000000000:task-definition/worker:1',
    ]);
  });

  it('refuses a task definition without containers with InvalidParameterException naming the field', async () => {
    const sent = client.send(new RegisterTaskDefinitionCommand({ family: 'web', containerDefinitions: [] }));

    await expect(sent).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(sent).rejects.toThrow(/containerDefinitions/);
  });

  it('answers ClientException for a task definition that does not exist', async () => {
    await expect(
      client.send(new DescribeTaskDefinitionCommand({ taskDefinition: 'nope:3' })),
    ).rejects.toBeInstanceOf(ClientException);
  });

  it('creates and describes clusters, and reports missing ones as failures', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));

    const described = await client.send(
      new DescribeClustersCommand({ clusters: ['stepline-local', 'other'] }),
    );

    expect(described.clusters?.map((c) => c.clusterArn)).toEqual([
      'arn:aws:ecs:us-east-1:000000000000:cluster/stepline-local',
    ]);
    expect(described.failures).toEqual([
      { arn: 'arn:aws:ecs:us-east-1:000000000000:cluster/other', reason: 'MISSING' },
    ]);
  });

  it('answers ClusterNotFoundException for a service in a cluster that does not exist', async () => {
    await register();

    const sent = client.send(
      new CreateServiceCommand({ cluster: 'nope', serviceName: 's', taskDefinition: 'web:1' }),
    );

    await expect(sent).rejects.toBeInstanceOf(ClusterNotFoundException);
  });

  it('creates a service whose first deployment completes at once with no task, with ECS events', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));
    await register();

    const created = await client.send(
      new CreateServiceCommand({
        cluster: 'stepline-local',
        serviceName: 'staging',
        taskDefinition: 'web:1',
        desiredCount: 0,
        tags: [{ key: 'stepline:health-path', value: '/healthz' }],
      }),
    );
    await expect
      .poll(async () => (await describeService('staging')).deployments?.[0]?.rolloutState)
      .toBe('COMPLETED');
    const service = await describeService('staging');

    expect(created.service?.serviceArn).toBe(
      'arn:aws:ecs:us-east-1:000000000000:service/stepline-local/staging',
    );
    expect(service.deployments).toHaveLength(1);
    expect(service.deployments?.[0]).toMatchObject({
      status: 'PRIMARY',
      taskDefinition: 'arn:aws:ecs:us-east-1:000000000000:task-definition/web:1',
      rolloutStateReason: expect.stringMatching(/^ECS deployment ecs-svc\/\d{19} completed\.$/),
      desiredCount: 0,
      runningCount: 0,
      failedTasks: 0,
    });
    expect(service.events?.map((e) => e.message)).toEqual([
      '(service staging) has reached a steady state.',
      `(service staging) (deployment ${service.deployments?.[0]?.id}) deployment completed.`,
    ]);
    expect(service.tags).toContainEqual({ key: 'stepline:health-path', value: '/healthz' });
    expect(service.tags?.find((t) => t.key === 'stepline:url')?.value).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers ServiceNotFoundException when updating a service that does not exist', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));

    const sent = client.send(
      new UpdateServiceCommand({ cluster: 'stepline-local', service: 'nope', desiredCount: 1 }),
    );

    await expect(sent).rejects.toBeInstanceOf(ServiceNotFoundException);
  });

  it('reports a service that does not exist as a MISSING failure of DescribeServices', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));

    const described = await client.send(
      new DescribeServicesCommand({ cluster: 'stepline-local', services: ['nope'] }),
    );

    expect(described.services).toEqual([]);
    expect(described.failures).toEqual([
      { arn: 'arn:aws:ecs:us-east-1:000000000000:service/stepline-local/nope', reason: 'MISSING' },
    ]);
  });

  it('refuses a task definition whose load-balanced container does not exist, naming the container', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));
    await register();
    await client.send(
      new CreateServiceCommand({
        cluster: 'stepline-local',
        serviceName: 'staging',
        taskDefinition: 'web:1',
        loadBalancers: [{ containerName: 'app', containerPort: 8080, targetGroupArn: 'local' }],
      }),
    );
    await client.send(
      new RegisterTaskDefinitionCommand({
        family: 'web',
        containerDefinitions: [{ ...container, name: 'other' }],
      }),
    );

    const sent = client.send(
      new UpdateServiceCommand({ cluster: 'stepline-local', service: 'staging', taskDefinition: 'web:2' }),
    );

    await expect(sent).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(sent).rejects.toThrow('The container app does not exist in the task definition');
    expect((await describeService('staging')).taskDefinition).toMatch(/web:1$/);
  });

  it('tags task definitions and services and lists their tags', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));
    const { taskDefinition } = await register();
    const { service } = await client.send(
      new CreateServiceCommand({
        cluster: 'stepline-local',
        serviceName: 'staging',
        taskDefinition: 'web:1',
      }),
    );

    await client.send(
      new TagResourceCommand({
        resourceArn: taskDefinition!.taskDefinitionArn!,
        tags: [{ key: 'k', value: 'v' }],
      }),
    );
    await client.send(
      new TagResourceCommand({ resourceArn: service!.serviceArn!, tags: [{ key: 'team', value: 'x' }] }),
    );

    const tdTags = await client.send(
      new ListTagsForResourceCommand({ resourceArn: taskDefinition!.taskDefinitionArn! }),
    );
    const serviceTags = await client.send(
      new ListTagsForResourceCommand({ resourceArn: service!.serviceArn! }),
    );
    expect(tdTags.tags).toEqual([
      { key: 'stepline:commit', value: 'abc123' },
      { key: 'k', value: 'v' },
    ]);
    expect(serviceTags.tags).toContainEqual({ key: 'team', value: 'x' });
  });

  it('lists the services of a cluster', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));
    await register();
    await client.send(
      new CreateServiceCommand({ cluster: 'stepline-local', serviceName: 'b', taskDefinition: 'web:1' }),
    );
    await client.send(
      new CreateServiceCommand({ cluster: 'stepline-local', serviceName: 'a', taskDefinition: 'web:1' }),
    );

    const listed = await client.send(new ListServicesCommand({ cluster: 'stepline-local' }));

    expect(listed.serviceArns).toEqual([
      'arn:aws:ecs:us-east-1:000000000000:service/stepline-local/a',
      'arn:aws:ecs:us-east-1:000000000000:service/stepline-local/b',
    ]);
  });

  it('keeps task definitions and services across a restart of the runtime', async () => {
    await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));
    await register();
    await client.send(
      new CreateServiceCommand({
        cluster: 'stepline-local',
        serviceName: 'staging',
        taskDefinition: 'web:1',
      }),
    );
    const url = (await describeService('staging')).tags?.find((t) => t.key === 'stepline:url')?.value;
    await server.close();
    await ecs.close();

    ecs = await LocalEcs.start({ dataDir, images: registryImageSource() });
    server = await startEcsApiServer(ecs, { credentials: testCredentials });
    client.destroy();
    client = new ECSClient({
      endpoint: server.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });

    const service = await describeService('staging');
    expect(service.taskDefinition).toMatch(/web:1$/);
    expect(service.tags?.find((t) => t.key === 'stepline:url')?.value).toBe(url);
    expect((await register()).taskDefinition?.revision).toBe(2);
  });
});

async function describeService(name: string) {
  const described = await client.send(
    new DescribeServicesCommand({ cluster: 'stepline-local', services: [name], include: ['TAGS'] }),
  );
  return described.services![0]!;
}

describe('the circuit breaker on a service nothing was deployed to yet', () => {
  it('rolls a failed first deployment back to the placeholder once, and stops when that fails too', async () => {
    const fast = await LocalEcs.start({
      dataDir: join(dataDir, 'fast'),
      images: registryImageSource(),
      timing: { relaunchBackoffMs: 20 },
    });
    try {
      fast.ensureCluster('stepline-local');
      const first = fast.registerTaskDefinition({
        family: 'web',
        containerDefinitions: [{ name: 'app', image: 'stepline/not-deployed-yet' }],
      });
      await fast.createService({
        cluster: 'stepline-local',
        serviceName: 'staging',
        taskDefinition: first.taskDefinition.taskDefinitionArn,
        deploymentConfiguration: { deploymentCircuitBreaker: { enable: true, rollback: true } },
      });
      const described = () =>
        fast.describeServices({ cluster: 'stepline-local', services: ['staging'] }).services[0]!;
      await expect.poll(() => described().deployments[0]?.rolloutState).toBe('COMPLETED');
      const second = fast.registerTaskDefinition({
        family: 'web',
        containerDefinitions: [{ name: 'app', image: `127.0.0.1:1/acme/web@sha256:${'1'.repeat(64)}` }],
      });

      await fast.updateService({
        cluster: 'stepline-local',
        service: 'staging',
        taskDefinition: second.taskDefinition.taskDefinitionArn,
        desiredCount: 2,
      });
      // The failed deployment leaves the list once its tasks are gone; the failed rollback stays PRIMARY.
      await expect
        .poll(() => described().deployments.map((d) => `${d.status} ${d.rolloutState} ${d.taskDefinition}`), {
          timeout: 20_000,
        })
        .toEqual([`PRIMARY FAILED ${first.taskDefinition.taskDefinitionArn}`]);
      await new Promise((resolve) => setTimeout(resolve, 500));

      const messages = described().events.map((e) => e.message);
      expect(messages.filter((m) => m.includes('rolling back to deployment'))).toHaveLength(1);
      expect(messages).toContainEqual(
        expect.stringContaining(
          'stepline/not-deployed-yet is the placeholder of a service nothing was deployed to yet',
        ),
      );
      expect(described().deployments).toHaveLength(1);
      expect(messages.filter((m) => m.includes('deployment failed: tasks failed to start.'))).toHaveLength(2);
    } finally {
      await fast.close();
    }
  });
});
