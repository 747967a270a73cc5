import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDeployment } from '#functions/check-deployment/check-deployment.ts';
import { deploy } from '#functions/deploy/deploy.ts';
import { rollbackCommand } from '#local/commands/rollback.ts';
import { type EcsApiServer, startEcsApiServer } from '#local/ecs/api-server.ts';
import { ensureConfiguredServices } from '#local/ecs/configured-services.ts';
import { type EcsTiming, LocalEcs } from '#local/ecs/local-ecs.ts';
import { type LocalRegistry, startLocalRegistry } from '#local/registry/server.ts';
import type { DeploymentState } from '#shared/deployment.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { DeploymentFailedError, DeploymentInProgressError } from '#shared/errors.ts';
import type { PublishedImage } from '#shared/published-image.ts';
import { authenticatedImageSource, testCredentials } from '../../helpers/local-auth.ts';
import { makePush } from '../../unit/deploy/fixtures.ts';
import { type AppImage, pushAppImage } from '../ecs/images.ts';

/**
 * The Deploy and CheckDeployment logic, unchanged, against the local ECS through the real ECS
 * client: rollouts, never backwards, one rollout at a time, a failing health check, rollback.
 */

const timing: Partial<EcsTiming> = {
  probeMs: 100,
  httpStartPeriodMs: 5000,
  relaunchBackoffMs: 100,
  drainTimeoutMs: 10_000,
  stopTimeoutSeconds: 5,
};
const rawConfig = {
  repositories: [
    {
      provider: 'gitea',
      name: 'acme/hello',
      webhookSecret: { value: 'w' },
      deploy: {
        staging: {
          cluster: 'stepline-local',
          service: 'hello-staging',
          container: 'app',
          desiredCount: 2,
          smokePath: '/healthz',
          timeoutSeconds: 120,
        },
      },
    },
  ],
};
const config = DeploymentConfig.parse(rawConfig);
const logger = { info: () => {}, warn: () => {} };

let dataDir: string;
let registry: LocalRegistry;
let localEcs: LocalEcs;
let server: EcsApiServer;
let ecs: ECSClient;
const images: Record<string, AppImage> = {};

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'stepline-deploy-ecs-'));
  registry = await startLocalRegistry({ dir: join(dataDir, 'registry'), credentials: testCredentials });
  images.v1 = await pushAppImage(registry, 'acme/hello', { version: 'v1' });
  images.v2 = await pushAppImage(registry, 'acme/hello', { version: 'v2' });
  images.v3 = await pushAppImage(registry, 'acme/hello', { version: 'v3', env: { HEALTH: 'fail' } });
  images.v4 = await pushAppImage(registry, 'acme/hello', { version: 'v4' });
  localEcs = await LocalEcs.start({ dataDir, images: authenticatedImageSource(() => registry), timing });
  server = await startEcsApiServer(localEcs, { credentials: testCredentials });
  ecs = new ECSClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureConfiguredServices(localEcs, config);
}, 180_000);

afterAll(async () => {
  ecs?.destroy();
  await server?.close();
  await localEcs?.close();
  await registry?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function published(image: AppImage): PublishedImage {
  return {
    repository: image.uri.split('@')[0]!,
    digest: image.digest,
    uri: image.uri,
    tags: [],
    bytesPushed: 0,
    layers: 2,
  };
}

/** One push of main: commit `n` repeated, its execution started at `startedAt`. */
function rollout(n: string, startedAt: string, image: AppImage) {
  return {
    environment: 'staging',
    run: { name: `gitea-${n}`, executionArn: `arn:local:execution:gitea-${n}`, startedAt },
    push: { ...makePush({ after: n.repeat(40) }), provider: 'gitea' as const },
    image: published(image),
  };
}

/** The state machine's Wait → CheckDeployment loop, until COMPLETED (or a thrown failure). */
async function untilSettled(state: DeploymentState): Promise<DeploymentState> {
  let current = state;
  while (current.rolloutState !== 'COMPLETED') {
    await new Promise((resolve) => setTimeout(resolve, 100));
    current = await checkDeployment(
      { environment: 'staging', deployment: current },
      { ecs, config, fetch: globalThis.fetch, logger, smoke: { intervalMs: 200 } },
    );
  }
  return current;
}

async function versionAt(url: string | undefined): Promise<string> {
  const response = await fetch(`${url}/`);
  return ((await response.json()) as { version: string }).version;
}

async function primaryTaskDefinition(): Promise<string | undefined> {
  const described = await ecs.send(
    new DescribeServicesCommand({ cluster: 'stepline-local', services: ['hello-staging'] }),
  );
  return described.services?.[0]?.taskDefinition;
}

describe('Deploy and CheckDeployment against the local ECS', () => {
  let v2Url: string | undefined;

  it('rolls out v1 and then v2, each smoke-checked on the service URL the local ECS tags', async () => {
    const first = await untilSettled(
      await deploy(rollout('1', '2024-05-01T10:00:00Z', images.v1!), { ecs, config, logger }),
    );
    expect(first).toMatchObject({ outcome: 'Completed', rolloutState: 'COMPLETED' });
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await versionAt(first.url)).toBe('v1');

    const second = await untilSettled(
      await deploy(rollout('2', '2024-05-01T11:00:00Z', images.v2!), { ecs, config, logger }),
    );

    expect(second).toMatchObject({
      outcome: 'Completed',
      previousTaskDefinitionArn: first.taskDefinitionArn,
      previousCommit: '1'.repeat(40),
    });
    expect(await versionAt(second.url)).toBe('v2');
    v2Url = second.url;
  }, 120_000);

  it('ends an older push of the same branch as Superseded and leaves v2 serving', async () => {
    const before = await primaryTaskDefinition();

    const state = await deploy(rollout('0', '2024-05-01T09:00:00Z', images.v1!), { ecs, config, logger });

    expect(state).toMatchObject({ outcome: 'Superseded', supersededBy: '2'.repeat(40) });
    expect(await primaryTaskDefinition()).toBe(before);
    expect(await versionAt(v2Url)).toBe('v2');
  });

  it('fails a v3 whose health check fails with the local ECS events, and v2 keeps serving', async () => {
    const state = await deploy(rollout('3', '2024-05-01T12:00:00Z', images.v3!), { ecs, config, logger });

    const error = await untilSettled(state).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeploymentFailedError);
    expect((error as Error).message).toContain('deployment failed: tasks failed to start.');
    expect(await versionAt(v2Url)).toBe('v2');
  }, 120_000);

  it('lets only one of two Deploys that start together roll out; the other waits', async () => {
    await expect.poll(async () => (await untilIdle()) ?? 'idle', { timeout: 60_000 }).toBe('idle');

    const results = await Promise.allSettled([
      deploy(rollout('4', '2024-05-01T13:00:00Z', images.v1!), { ecs, config, logger }),
      deploy(rollout('5', '2024-05-01T13:00:01Z', images.v4!), { ecs, config, logger }),
    ]);

    const started = results.filter((r) => r.status === 'fulfilled');
    const waiting = results.filter((r) => r.status === 'rejected');
    expect(started).toHaveLength(1);
    expect(waiting).toHaveLength(1);
    const reason = (waiting[0] as PromiseRejectedResult).reason as Error;
    expect(reason).toBeInstanceOf(DeploymentInProgressError);
    expect(reason.message).toMatch(
      /started a rollout of .* at the same moment; it went first|is rolling out/,
    );
    const winner = (started[0] as PromiseFulfilledResult<DeploymentState>).value;
    const settled = await untilSettled(winner);
    expect(settled.outcome).toBe('Completed');
    expect(await primaryTaskDefinition()).toBe(winner.taskDefinitionArn);
  }, 120_000);

  it('stepline rollback puts the previous revision back and waits until it serves', async () => {
    const before = await primaryTaskDefinition();
    const file = join(dataDir, 'stepline.config.json');
    writeFileSync(file, JSON.stringify(rawConfig));
    const out: string[] = [];
    const err: string[] = [];

    const code = await rollbackCommand({
      environment: 'staging',
      dataDir,
      aws: false,
      configPath: file,
      secret: () => 'unused',
      write: (line) => out.push(line),
      fail: (line) => err.push(line),
      pollMs: 100,
      ecs,
    });

    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out[0]).toBe('Rolling back staging (stepline-local/hello-staging)');
    expect(out[1]).toContain(`from ${before}`);
    expect(out.at(-1)).toMatch(
      /^Rolled back: staging \(stepline-local\/hello-staging\) runs .* at http:\/\/127\.0\.0\.1:\d+$/,
    );
    expect(await primaryTaskDefinition()).not.toBe(before);
  }, 120_000);
});

/** The id of a deployment still IN_PROGRESS on the service (the circuit breaker's rollback), if any. */
async function untilIdle(): Promise<string | undefined> {
  const described = await ecs.send(
    new DescribeServicesCommand({ cluster: 'stepline-local', services: ['hello-staging'] }),
  );
  return described.services?.[0]?.deployments?.find((d) => d.rolloutState === 'IN_PROGRESS')?.id;
}
