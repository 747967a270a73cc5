import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLocalCredentials } from '#local/credentials.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { RuntimeLockedError } from '#local/runtime-lock.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { createLogger } from '#shared/logger.ts';

let dataDir: string;
let runtime: LocalRuntime;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'stepline-runtime-registry-'));
  runtime = await startLocalRuntime({
    dataDir,
    config: localDefaultConfig('secret'),
    port: 0,
    logger: createLogger('stepline-test'),
    registry: 'http://127.0.0.1:5999',
  });
});

afterAll(async () => {
  await runtime.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the local runtime and its registry', () => {
  it('refuses a second runtime on the same data directory, naming the pid that holds it', async () => {
    const second = startLocalRuntime({
      dataDir,
      config: localDefaultConfig('secret'),
      port: 0,
      logger: createLogger('stepline-test'),
    });

    await expect(second).rejects.toThrow(RuntimeLockedError);
    await expect(second).rejects.toThrow(`pid ${process.pid}`);
    expect(await readFile(join(dataDir, 'runtime.lock'), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('serves the registry from the data directory and names it in runtime.json', async () => {
    const written = JSON.parse(await readFile(join(dataDir, 'runtime.json'), 'utf8'));

    expect(runtime.registryEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(written.registryEndpoint).toBe(runtime.registryEndpoint);
    expect(written.registryHost).toBe(runtime.registryHost);
    expect(written.externalRegistry).toBe('http://127.0.0.1:5999');
    const ping = await fetch(`${runtime.registryEndpoint}/v2/`);
    expect(ping.status).toBe(401);
    expect((await readFile(join(dataDir, 'registry', '.password'), 'utf8')).trim()).not.toBe('');
  });

  it("answers ECR calls for the base image it builds from this machine's node", async () => {
    const ecr = new ECRClient({
      endpoint: runtime.registryEndpoint,
      region: 'us-east-1',
      credentials: await readLocalCredentials(dataDir),
    });

    const { imageDetails } = await ecr.send(
      new DescribeImagesCommand({ repositoryName: 'library/node', imageIds: [{ imageTag: 'latest' }] }),
    );
    ecr.destroy();

    expect(imageDetails?.[0]?.imageTags).toContain(process.versions.node.split('.')[0]);
    expect(imageDetails?.[0]?.imageManifestMediaType).toBe('application/vnd.oci.image.index.v1+json');
  });
});
