import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usablePodman } from '#local/ecs/containers.ts';
import { LocalEcs } from '#local/ecs/local-ecs.ts';
import { writeRegistryAuthFile } from '#local/registry/auth.ts';
import { type LocalRegistry, startLocalRegistry } from '#local/registry/server.ts';
import { authenticatedImageSource, testCredentials } from '../../helpers/local-auth.ts';
import { pushAppImage } from './images.ts';

const podman = usablePodman();
if (!podman)
  console.warn(
    'skipped: the local ECS container-mode test needs a usable podman (apt-get install podman runc)',
  );

let dataDir: string;
let registry: LocalRegistry;
let ecs: LocalEcs;

beforeAll(async () => {
  if (!podman) return;
  dataDir = mkdtempSync(join(tmpdir(), 'stepline-ecs-podman-'));
  registry = await startLocalRegistry({ dir: join(dataDir, 'registry'), credentials: testCredentials });
  ecs = await LocalEcs.start({
    dataDir,
    images: authenticatedImageSource(() => registry),
    registryAuthFile: await writeRegistryAuthFile(
      join(dataDir, 'registry-auth.json'),
      registry.host,
      registry.password,
    ),
    mode: 'container',
    timing: { probeMs: 200, relaunchBackoffMs: 200, stopTimeoutSeconds: 5 },
  });
}, 180_000);

afterAll(async () => {
  if (!podman) return;
  await ecs.close();
  await registry.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('local ECS in container mode', () => {
  it.skipIf(!podman)(
    'runs a service’s tasks with podman from the local registry and serves them behind its URL',
    async () => {
      const image = await pushAppImage(registry, 'acme/boxed', { version: 'boxed' });
      ecs.ensureCluster('stepline-local');
      const { taskDefinition } = ecs.registerTaskDefinition({
        family: 'boxed',
        containerDefinitions: [{ name: 'app', image: image.uri, essential: true }],
      });
      await ecs.createService({
        cluster: 'stepline-local',
        serviceName: 'boxed',
        taskDefinition: taskDefinition.taskDefinitionArn,
        desiredCount: 1,
        tags: [{ key: 'stepline:health-path', value: '/healthz' }],
      });

      const described = () =>
        ecs.describeServices({ cluster: 'stepline-local', services: ['boxed'], include: ['TAGS'] })
          .services[0]!;
      await expect
        .poll(() => described().deployments[0]?.rolloutState, { timeout: 150_000, interval: 500 })
        .toBe('COMPLETED');

      expect(ecs.isolation).toBe('podman');
      const url = described().tags!.find((t) => t.key === 'stepline:url')!.value;
      const body = (await (await fetch(url)).json()) as { version: string };
      expect(body.version).toBe('boxed');
      expect(described().events.map((e) => e.message)).toContain(
        '(service boxed) runs its tasks locally as podman containers.',
      );
    },
    200_000,
  );
});
