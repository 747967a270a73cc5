import { randomBytes } from 'node:crypto';
import { ECRClient } from '@aws-sdk/client-ecr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '#shared/oci/registry-client.ts';
import { MediaType } from '#shared/oci/types.ts';
import { makeImage, pushImage, sha256, startTestRegistry, type TestRegistry } from './helpers.ts';

let registry: TestRegistry;
let ecr: ECRClient;

beforeEach(async () => {
  registry = await startTestRegistry();
  ecr = new ECRClient({
    endpoint: registry.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'any', secretAccessKey: 'any' },
  });
});

afterEach(async () => {
  ecr.destroy();
  await registry.remove();
});

function client(auth: 'ecr' | 'anonymous') {
  return new RegistryClient({
    registry: registry.host,
    insecure: true,
    auth: auth === 'ecr' ? { kind: 'ecr', ecr } : { kind: 'anonymous' },
    retries: 0,
  });
}

describe("Stepline's registry client and the local registry", () => {
  it('pings with ECR credentials, and is told unauthorized anonymously, as by ECR', async () => {
    await expect(client('ecr').ping()).resolves.toBeUndefined();
    await expect(client('anonymous').ping()).rejects.toMatchObject({ kind: 'unauthorized', status: 401 });
  });

  it('pushes an image on a base with ECR auth: base layer mounted, app layer in chunks, then nothing again', async () => {
    const base = await pushImage(registry, 'library/node', 'latest');
    const baseLayer = base.layers[0] ?? Buffer.alloc(0);
    const appLayer = randomBytes(300 * 1024);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
        layers: [
          { mediaType: MediaType.ociLayer, digest: sha256(baseLayer), size: baseLayer.length },
          { mediaType: MediaType.ociLayer, digest: sha256(appLayer), size: appLayer.length },
        ],
      }),
    );
    const push = client('ecr');

    const mounted = await push.pushBlob('acme/hello-service', sha256(baseLayer), baseLayer, {
      mountFrom: 'library/node',
    });
    const chunked = await push.pushBlob('acme/hello-service', sha256(appLayer), appLayer, {
      chunkSize: 64 * 1024,
    });
    const monolithic = await push.pushBlob('acme/hello-service', sha256(config), config);
    const digest = await push.putManifest('acme/hello-service', 'abc123', manifest, MediaType.ociManifest);
    const again = await push.pushBlob('acme/hello-service', sha256(appLayer), appLayer);

    expect(mounted).toMatchObject({ mounted: true, bytes: 0 });
    expect(chunked).toMatchObject({ pushed: true, bytes: appLayer.length });
    expect(monolithic).toMatchObject({ pushed: true });
    expect(again).toMatchObject({ pushed: false, mounted: false, bytes: 0 });
    const fetched = await client('ecr').getManifest('acme/hello-service', digest);
    expect(fetched.bytes.equals(manifest)).toBe(true);
    expect(fetched.mediaType).toBe(MediaType.ociManifest);
    expect(await client('ecr').listTags('acme/hello-service')).toEqual(['abc123']);
  });

  it('is refused a push without credentials with 401, and pulls library/ anonymously', async () => {
    const image = makeImage();

    const push = client('anonymous').pushBlob('acme/app', sha256(image.config), image.config);

    // Its first request (does the blob exist?) is a HEAD, whose 401 has no body to say more.
    await expect(push).rejects.toMatchObject({ kind: 'unauthorized', status: 401 });
    const pull = client('anonymous').getManifest('library/node', 'latest');
    // library/ (the base images) is pulled anonymously: here it is just not there.
    await expect(pull).rejects.toMatchObject({ kind: 'not-found' });
  });
});
