import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsFile, readLocalCredentials } from '#local/credentials.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { localS3Client } from '#local/s3.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { createLogger } from '#shared/logger.ts';

let dataDir: string;
let runtime: LocalRuntime;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'stepline-runtime-auth-'));
  runtime = await startLocalRuntime({
    dataDir,
    config: localDefaultConfig('secret'),
    port: 0,
    logger: createLogger('test'),
  });
}, 120_000);

afterAll(async () => {
  await runtime?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a local runtime and its data directory credentials', () => {
  it('generates credentials.json (0600) at its first start and its S3 refuses a build writing a branch cache with plain curl', async () => {
    expect((await stat(credentialsFile(dataDir))).mode & 0o777).toBe(0o600);
    const url = `${runtime.s3Endpoint}/${runtime.bucket}/caches/github/acme/api/branch/main/cache.tar.gz`;

    const put = await fetch(url, { method: 'PUT', body: 'poisoned cache' });
    const list = await fetch(`${runtime.s3Endpoint}/${runtime.bucket}?list-type=2&prefix=caches/`);

    expect(put.status).toBe(403);
    expect(list.status).toBe(403);
    const signed = localS3Client(runtime.s3Endpoint, await readLocalCredentials(dataDir));
    await expect(
      signed.send(new PutObjectCommand({ Bucket: runtime.bucket, Key: 'caches/probe', Body: 'ok' })),
    ).resolves.toBeDefined();
    signed.destroy();
  });

  it('gives the runner the key through its task definition environment, as a task role would', async () => {
    const credentials = await readLocalCredentials(dataDir);
    const ecs = new ECSClient({ endpoint: runtime.ecsEndpoint, region: 'us-east-1', credentials });

    const { taskDefinition } = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: 'stepline-runner' }),
    );
    ecs.destroy();

    const env = Object.fromEntries(
      (taskDefinition?.containerDefinitions?.[0]?.environment ?? []).map((e) => [e.name, e.value]),
    );
    expect(env.AWS_ACCESS_KEY_ID).toBe(credentials.accessKeyId);
    expect(env.AWS_SECRET_ACCESS_KEY).toBe(credentials.secretAccessKey);
    expect(env.AWS_ACCESS_KEY_ID).not.toBe('S3RVER');
  });
});
