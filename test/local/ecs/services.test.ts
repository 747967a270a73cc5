import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicesCommand } from '#local/commands/services.ts';
import { credentialsFile } from '#local/credentials.ts';
import { type EcsApiServer, startEcsApiServer } from '#local/ecs/api-server.ts';
import { type EcsTiming, LocalEcs } from '#local/ecs/local-ecs.ts';
import { type LocalRegistry, startLocalRegistry } from '#local/registry/server.ts';
import { authenticatedImageSource, testCredentials } from '../../helpers/local-auth.ts';
import { type AppImage, pushAppImage } from './images.ts';

const timing: Partial<EcsTiming> = {
  probeMs: 100,
  httpStartPeriodMs: 5000,
  relaunchBackoffMs: 100,
  drainTimeoutMs: 10_000,
  stopTimeoutSeconds: 5,
};

let dataDir: string;
let registry: LocalRegistry;
let ecs: LocalEcs;
let server: EcsApiServer;
let client: ECSClient;
const images: Record<string, AppImage> = {};

async function startEcs() {
  ecs = await LocalEcs.start({ dataDir, images: authenticatedImageSource(() => registry), timing });
  server = await startEcsApiServer(ecs, { credentials: testCredentials });
  client = new ECSClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

async function stopEcs() {
  client.destroy();
  await server.close();
  await ecs.close();
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'stepline-ecs-services-'));
  registry = await startLocalRegistry({ dir: join(dataDir, 'registry'), credentials: testCredentials });
  images.v1 = await pushAppImage(registry, 'acme/hello', { version: 'v1' });
  images.v2 = await pushAppImage(registry, 'acme/hello', { version: 'v2' });
  images.v3 = await pushAppImage(registry, 'acme/hello', { version: 'v3', env: { HEALTH: 'fail' } });
  images.crash = await pushAppImage(registry, 'acme/hello', { version: 'crash', env: { EXIT_AT_ONCE: '3' } });
  await startEcs();
  await client.send(new CreateClusterCommand({ clusterName: 'stepline-local' }));
  await client.send(
    new RegisterTaskDefinitionCommand({
      family: 'staging',
      containerDefinitions: [{ name: 'app', image: 'stepline/not-deployed-yet', essential: true }],
    }),
  );
  await client.send(
    new CreateServiceCommand({
      cluster: 'stepline-local',
      serviceName: 'staging',
      taskDefinition: 'staging',
      desiredCount: 0,
      loadBalancers: [{ containerName: 'app', containerPort: 8080, targetGroupArn: 'local' }],
      deploymentConfiguration: {
        deploymentCircuitBreaker: { enable: true, rollback: true },
        maximumPercent: 200,
        minimumHealthyPercent: 100,
      },
      tags: [{ key: 'stepline:health-path', value: '/healthz' }],
    }),
  );
}, 180_000);

afterAll(async () => {
  await stopEcs();
  await registry.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function service() {
  const described = await client.send(
    new DescribeServicesCommand({ cluster: 'stepline-local', services: ['staging'], include: ['TAGS'] }),
  );
  return described.services![0]!;
}

async function url(): Promise<string> {
  return (await service()).tags!.find((t) => t.key === 'stepline:url')!.value!;
}

/** What the Deploy Lambda does: a revision with the new image, then UpdateService. Returns the deployment id. */
async function deploy(image: string, version: string): Promise<string> {
  const registered = await client.send(
    new RegisterTaskDefinitionCommand({
      family: 'staging',
      containerDefinitions: [{ name: 'app', image, essential: true }],
      tags: [{ key: 'stepline:commit', value: version }],
    }),
  );
  const updated = await client.send(
    new UpdateServiceCommand({
      cluster: 'stepline-local',
      service: 'staging',
      taskDefinition: registered.taskDefinition!.taskDefinitionArn!,
      desiredCount: 2,
    }),
  );
  return updated.service!.deployments!.find((d) => d.status === 'PRIMARY')!.id!;
}

/** Polls DescribeServices until the deployment leaves IN_PROGRESS; its final state (undefined: gone). */
async function settle(deploymentId: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await service();
    const deployment = current.deployments?.find((d) => d.id === deploymentId);
    if (deployment?.rolloutState !== 'IN_PROGRESS') return { service: current, deployment };
    if (Date.now() > deadline)
      throw new Error(
        `deployment ${deploymentId} still IN_PROGRESS: ${JSON.stringify(current.events?.slice(0, 8))}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Sends requests with `workers` concurrent loops until `stop` settles; counts answers by version. */
function loadGenerator(target: string, workers = 6) {
  let running = true;
  const seen: Record<string, number> = {};
  const failures: string[] = [];
  let served = 0;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      try {
        const response = await fetch(`${target}/?delay=20`);
        const body = (await response.json()) as { version?: string };
        if (response.status !== 200) failures.push(`${response.status} ${JSON.stringify(body)}`);
        else {
          served++;
          seen[body.version ?? '?'] = (seen[body.version ?? '?'] ?? 0) + 1;
        }
      } catch (error) {
        failures.push(String((error as Error).cause ?? error));
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { served, failures, seen };
    },
  };
}

async function versionAt(target: string): Promise<string> {
  const response = await fetch(target);
  return ((await response.json()) as { version: string }).version;
}

describe('local ECS services on images from the local registry', () => {
  it('deploys v1: two tasks of the image answer behind the service’s stable URL', async () => {
    const id = await deploy(images.v1!.uri, 'v1');

    const { deployment, service: after } = await settle(id);

    expect(deployment?.rolloutState).toBe('COMPLETED');
    expect(after.runningCount).toBe(2);
    const target = await url();
    const instances = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const body = (await (await fetch(target)).json()) as { version: string; instance: string };
      expect(body.version).toBe('v1');
      instances.add(body.instance);
    }
    expect(instances.size).toBe(2);
    const messages = after.events!.map((e) => e.message);
    expect(messages[0]).toBe('(service staging) has reached a steady state.');
    expect(messages[1]).toBe(`(service staging) (deployment ${id}) deployment completed.`);
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^\(service staging\) has started 2 tasks: \(task [0-9a-f]{32}\) \(task [0-9a-f]{32}\)\.$/,
      ),
    );
  });

  it('runs each task from the image digest and writes its output to the service’s log directory', async () => {
    const { taskArns } = await client.send(
      new ListTasksCommand({ cluster: 'stepline-local', serviceName: 'staging' }),
    );
    const { tasks } = await client.send(
      new DescribeTasksCommand({ cluster: 'stepline-local', tasks: taskArns! }),
    );

    expect(tasks).toHaveLength(2);
    for (const task of tasks!) {
      expect(task).toMatchObject({
        lastStatus: 'RUNNING',
        healthStatus: 'HEALTHY',
        group: 'service:staging',
      });
      expect(task.containers?.[0]?.imageDigest).toBe(images.v1!.digest);
      const id = task.taskArn!.split('/').at(-1)!;
      expect(readFileSync(join(dataDir, 'ecs', 'logs', 'staging', `${id}.log`), 'utf8')).toContain(
        'version v1',
      );
    }
  });

  it('rolls out v2 while a load generator sends requests, without one failed request', async () => {
    const target = await url();
    const load = loadGenerator(target);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const id = await deploy(images.v2!.uri, 'v2');
    const { deployment, service: after } = await settle(id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const result = await load.stop();

    expect(deployment?.rolloutState).toBe('COMPLETED');
    expect(result.failures).toEqual([]);
    expect(result.seen.v1).toBeGreaterThan(0);
    expect(result.seen.v2).toBeGreaterThan(0);
    expect(await versionAt(target)).toBe('v2');
    expect(after.deployments).toHaveLength(1);
    expect(await url()).toBe(target);
    const messages = after.events!.map((e) => e.message);
    expect(messages).toContainEqual(
      expect.stringMatching(/^\(service staging\) has begun draining connections on [12] tasks\.$/),
    );
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^\(service staging\) has stopped [12] running tasks: \(task [0-9a-f]{32}\)( \(task [0-9a-f]{32}\))?\.$/,
      ),
    );
  });

  it('fails a v3 whose health check fails with ECS’s events, rolls back, and v2 keeps serving throughout', async () => {
    const target = await url();
    const v2Deployment = (await service()).deployments![0]!.id!;
    const load = loadGenerator(target);

    const id = await deploy(images.v3!.uri, 'v3');
    const { deployment, service: after } = await settle(id);
    const result = await load.stop();

    expect(deployment).toMatchObject({
      rolloutState: 'FAILED',
      rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
      status: 'ACTIVE',
    });
    expect(deployment!.failedTasks).toBeGreaterThanOrEqual(3);
    expect(result.failures).toEqual([]);
    expect(result.seen.v3).toBeUndefined();
    const messages = after.events!.map((e) => e.message);
    expect(messages).toContain(
      `(service staging) (deployment ${id}) deployment failed: tasks failed to start.`,
    );
    expect(messages).toContain(`(service staging) rolling back to deployment ${v2Deployment}.`);
    expect(messages).toContainEqual(
      expect.stringMatching(
        /is unhealthy in \(target-group .+\) due to \(reason Health checks failed with these codes: \[500\]\)\.$/,
      ),
    );
    const v2TaskDefinition = after.deployments!.find((d) => d.id === v2Deployment)!.taskDefinition;
    const rollback = after.deployments!.find((d) => d.status === 'PRIMARY')!;
    expect(rollback.taskDefinition).toBe(v2TaskDefinition);
    const rolledBack = await settle(rollback.id!);
    expect(rolledBack.deployment?.rolloutState).toBe('COMPLETED');
    expect(rolledBack.service.taskDefinition).toBe(v2TaskDefinition);
    expect(rolledBack.service.deployments).toHaveLength(1);
    expect(await versionAt(target)).toBe('v2');
  });

  it('fails a deployment of an image the registry does not have, naming CannotPullContainerError', async () => {
    const missing = `${registry.host}/acme/hello@sha256:${'0'.repeat(64)}`;

    const id = await deploy(missing, 'missing');
    const { deployment, service: after } = await settle(id);

    expect(deployment?.rolloutState).toBe('FAILED');
    expect(after.events!.map((e) => e.message)).toContainEqual(
      expect.stringContaining(
        `(service staging) was unable to place a task. Reason: CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref ${missing}: not found`,
      ),
    );
    expect(await versionAt(await url())).toBe('v2');
  });

  it('fails a deployment whose tasks exit at once, with the exit code in the events', async () => {
    const id = await deploy(images.crash!.uri, 'crash');
    const { deployment, service: after } = await settle(id);

    expect(deployment?.rolloutState).toBe('FAILED');
    expect(after.events!.map((e) => e.message)).toContainEqual(
      expect.stringMatching(/\(task [0-9a-f]{32}\) essential container app exited with code 3/),
    );
    expect(await versionAt(await url())).toBe('v2');
    const { taskArns } = await client.send(
      new ListTasksCommand({ cluster: 'stepline-local', serviceName: 'staging', desiredStatus: 'STOPPED' }),
    );
    const { tasks } = await client.send(
      new DescribeTasksCommand({ cluster: 'stepline-local', tasks: taskArns! }),
    );
    expect(
      tasks!.some(
        (t) => t.stoppedReason === 'Essential container in task exited' && t.containers?.[0]?.exitCode === 3,
      ),
    ).toBe(true);
  });

  it('lists the service with `stepline services --json` through the running ECS endpoint', async () => {
    await expect
      .poll(
        async () => {
          const current = await service();
          return `${current.deployments?.length} ${current.deployments?.[0]?.rolloutState} ${current.runningCount}`;
        },
        { timeout: 30_000 },
      )
      .toBe('1 COMPLETED 2');
    writeFileSync(
      join(dataDir, 'runtime.json'),
      JSON.stringify({ pid: process.pid, ecsEndpoint: server.url }),
    );
    // The command signs with the data directory's key, as the runtime would have written it.
    writeFileSync(credentialsFile(dataDir), JSON.stringify(testCredentials), { mode: 0o600 });
    const lines: string[] = [];

    const code = await servicesCommand(dataDir, (line) => lines.push(line), { json: true });

    expect(code).toBe(0);
    const current = await service();
    const revision = Number(current.taskDefinition!.split(':').at(-1));
    expect(JSON.parse(lines.join('\n'))).toEqual([
      {
        environment: 'staging',
        service: 'staging',
        cluster: 'stepline-local',
        revision,
        imageDigest: images.v2!.digest,
        commit: 'v2',
        desired: 2,
        running: 2,
        healthy: 2,
        url: await url(),
        rolloutState: 'COMPLETED',
      },
    ]);
  });

  it('lists the stored desired state when no runtime serves the data directory', async () => {
    rmSync(join(dataDir, 'runtime.json'));
    const lines: string[] = [];

    await servicesCommand(dataDir, (line) => lines.push(line));

    expect(lines[0]).toMatch(/^no runtime serves .*: showing the services' last desired state/);
    expect(lines[1]).toMatch(
      /^ENVIRONMENT\s+SERVICE\s+REV\s+IMAGE\s+COMMIT\s+DESIRED\s+RUNNING\s+HEALTHY\s+URL$/,
    );
    expect(lines[2]).toMatch(
      new RegExp(
        `^staging\\s+staging\\s+\\d+\\s+${images.v2!.digest.slice(0, 19)}\\s+v2\\s+2\\s+0\\s+0\\s+-$`,
      ),
    );
  });

  it('brings the service back at v2 on the same URL after a restart, even with the registry elsewhere', async () => {
    const target = await url();
    await expect.poll(async () => (await service()).deployments?.length, { timeout: 30_000 }).toBe(1);
    await stopEcs();
    await expect(fetch(target)).rejects.toThrow();
    // The registry comes back on another port: the tasks start from the roots already unpacked.
    await registry.close();
    registry = await startLocalRegistry({
      dir: join(dataDir, 'registry'),
      baseImages: false,
      credentials: testCredentials,
    });

    await startEcs();
    await expect.poll(async () => (await service()).runningCount, { timeout: 30_000 }).toBe(2);
    await expect.poll(() => versionAt(target).catch(() => 'not yet'), { timeout: 30_000 }).toBe('v2');

    expect(await url()).toBe(target);
    expect(readdirSync(join(dataDir, 'ecs', 'roots')).length).toBeGreaterThanOrEqual(2);
  });
});
