import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLayer } from '#shared/oci/layer.ts';
import { MediaType } from '#shared/oci/types.ts';
import {
  onPath,
  pushBlob,
  putManifest,
  sha256,
  startTestRegistry,
  type TestImage,
  type TestRegistry,
} from './helpers.ts';

const skopeoAvailable = await onPath('skopeo');
if (!skopeoAvailable)
  console.warn('skipping the skopeo tests: skopeo is not installed (apt-get install skopeo)');

function skopeo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('skopeo', args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let registry: TestRegistry;
let work: string;
let image: TestImage;

/** A real image: a gzipped tar layer with one file, a config with a label. */
async function realImage(dir: string): Promise<TestImage & { layerFile: string }> {
  const layerFile = join(dir, 'layer.tar.gz');
  const layer = await writeLayer(
    [{ path: 'app/hello.txt', type: 'file', mode: 0o644, content: Buffer.from('hello\n') }],
    layerFile,
    { mtime: new Date('2024-01-01T00:00:00Z') },
  );
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'org.opencontainers.image.revision': 'abc123' } },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
    }),
  );
  return { manifest, digest: sha256(manifest), config, layers: [await readFile(layerFile)], layerFile };
}

beforeAll(async () => {
  if (!skopeoAvailable) return;
  registry = await startTestRegistry();
  work = await mkdtemp(join(tmpdir(), 'stepline-skopeo-'));
  image = await realImage(work);
  for (const blob of [image.config, ...image.layers]) await pushBlob(registry, 'acme/hello-service', blob);
  await putManifest(registry, 'acme/hello-service', 'v1', image.manifest, MediaType.ociManifest, 201);
});

afterAll(async () => {
  if (!skopeoAvailable) return;
  await registry.remove();
  await rm(work, { recursive: true, force: true });
});

describe('skopeo and the local registry', () => {
  it.skipIf(!skopeoAvailable)(
    'inspects an image by digest over the distribution API, with the registry token',
    async () => {
      const { code, stdout, stderr } = await skopeo([
        'inspect',
        '--tls-verify=false',
        '--creds',
        `AWS:${registry.password}`,
        `docker://${registry.host}/acme/hello-service@${image.digest}`,
      ]);

      expect(stderr).toBe('');
      expect(code).toBe(0);
      const inspected = JSON.parse(stdout);
      expect(inspected.Digest).toBe(image.digest);
      expect(inspected.Labels).toEqual({ 'org.opencontainers.image.revision': 'abc123' });
      expect(inspected.RepoTags).toEqual(['v1']);
    },
  );

  it.skipIf(!skopeoAvailable)('is refused an image without credentials, as ECR refuses it', async () => {
    const { code, stderr } = await skopeo([
      'inspect',
      '--tls-verify=false',
      `docker://${registry.host}/acme/hello-service@${image.digest}`,
    ]);

    expect(code).not.toBe(0);
    expect(stderr).toMatch(/authentication required|unauthorized/i);
  });

  it.skipIf(!skopeoAvailable)("reads the registry's directory as an OCI image layout", async () => {
    const { code, stdout, stderr } = await skopeo([
      'inspect',
      `oci:${join(registry.dir, 'acme/hello-service')}:v1`,
    ]);

    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout).Digest).toBe(image.digest);
  });

  it.skipIf(!skopeoAvailable)(
    'copies an image from the registry into an oci: directory and back',
    async () => {
      const layout = join(work, 'copied');

      const pulled = await skopeo([
        'copy',
        '--src-tls-verify=false',
        '--src-creds',
        `AWS:${registry.password}`,
        `docker://${registry.host}/acme/hello-service:v1`,
        `oci:${layout}:v1`,
      ]);
      expect(pulled.stderr).toBe('');
      expect(pulled.code).toBe(0);
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
      expect(index.manifests[0].digest).toBe(image.digest);

      const pushed = await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-creds',
        `AWS:${registry.password}`,
        `oci:${layout}:v1`,
        `docker://${registry.host}/acme/copy:v2`,
      ]);
      expect(pushed.stderr).toBe('');
      expect(pushed.code).toBe(0);
      const head = await fetch(registry.url('/v2/acme/copy/manifests/v2'), {
        method: 'HEAD',
        headers: registry.auth,
      });
      expect(head.status).toBe(200);
      expect(head.headers.get('docker-content-digest')).toBe(image.digest);
    },
  );

  it.skipIf(!skopeoAvailable)('cannot push without the credentials', async () => {
    const { code, stderr } = await skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci:${join(registry.dir, 'acme/hello-service')}:v1`,
      `docker://${registry.host}/acme/anonymous:v1`,
    ]);

    expect(code).not.toBe(0);
    expect(stderr).toContain('unauthorized');
  });
});
