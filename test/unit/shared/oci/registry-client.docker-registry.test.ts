import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '#shared/oci/registry-client.ts';
import { MediaType, sha256Digest } from '#shared/oci/types.ts';
import {
  type DockerRegistryHandle,
  skipReason,
  startDockerRegistry,
} from '../../../helpers/docker-registry.ts';

const unavailable = skipReason('docker-registry');

describe.skipIf(unavailable)("RegistryClient against Debian's docker-registry", () => {
  let registry: DockerRegistryHandle;
  let client: RegistryClient;
  let dir: string;
  beforeAll(async () => {
    registry = await startDockerRegistry();
    client = new RegistryClient({ registry: registry.host, insecure: true });
    dir = await mkdtemp(join(tmpdir(), 'stepline-registry-client-'));
  });
  afterAll(async () => {
    await registry?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pushes a blob from a file in one PUT, then finds it there and pushes nothing', async () => {
    const bytes = randomBytes(300_000);
    const file = join(dir, 'blob');
    await writeFile(file, bytes);
    const digest = sha256Digest(bytes);

    const first = await client.pushBlob('acme/one', digest, { path: file });
    const second = await client.pushBlob('acme/one', digest, { path: file });

    expect(first).toEqual({ pushed: true, mounted: false, bytes: bytes.length });
    expect(second).toEqual({ pushed: false, mounted: false, bytes: 0 });
    expect(await client.headBlob('acme/one', digest)).toBe(bytes.length);
  });

  it('pushes a blob in PATCH chunks and reads the same bytes back', async () => {
    const bytes = randomBytes(250_001);
    const digest = sha256Digest(bytes);

    const pushed = await client.pushBlob('acme/chunked', digest, bytes, { chunkSize: 64 * 1024 });
    const read = await client.getBlobBytes('acme/chunked', digest);

    expect(pushed.pushed).toBe(true);
    expect(read.equals(bytes)).toBe(true);
  });

  it('mounts a blob from another repository instead of uploading it', async () => {
    const bytes = randomBytes(10_000);
    const digest = sha256Digest(bytes);
    await client.pushBlob('library/base', digest, bytes);

    const mounted = await client.pushBlob('acme/app', digest, bytes, { mountFrom: 'library/base' });

    expect(mounted).toEqual({ pushed: false, mounted: true, bytes: 0 });
    expect(await client.headBlob('acme/app', digest)).toBe(bytes.length);
  });

  it('stores a manifest under a tag and by digest, reads it back and lists the tags', async () => {
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    );
    const configDigest = sha256Digest(config);
    await client.pushBlob('acme/manifests', configDigest, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
        layers: [],
        annotations: { 'org.opencontainers.image.revision': 'abc' },
      }),
    );

    const digest = await client.putManifest(
      'acme/manifests',
      sha256Digest(manifest),
      manifest,
      MediaType.ociManifest,
    );
    await client.putManifest('acme/manifests', 'v1', manifest, MediaType.ociManifest);
    await client.putManifest('acme/manifests', 'branch-main', manifest, MediaType.ociManifest);
    const byTag = await client.getManifest('acme/manifests', 'v1');
    const head = await client.headManifest('acme/manifests', 'branch-main');

    expect(digest).toBe(sha256Digest(manifest));
    expect(byTag).toMatchObject({ mediaType: MediaType.ociManifest, digest });
    expect(byTag.bytes.equals(manifest)).toBe(true);
    expect(head).toMatchObject({ digest, mediaType: MediaType.ociManifest, size: manifest.length });
    expect((await client.listTags('acme/manifests')).sort()).toEqual(['branch-main', 'v1']);
    expect(await client.headManifest('acme/manifests', 'nope')).toBeUndefined();
  });

  it('says which repository and manifest it could not find', async () => {
    await expect(client.getManifest('acme/missing', 'v9')).rejects.toThrow(
      `could not read manifest v9 from repository "acme/missing" on registry ${registry.host}: 404`,
    );
  });

  it('refuses a blob whose bytes do not match the digest it was pushed under', async () => {
    const bytes = randomBytes(100);
    await expect(client.pushBlob('acme/bad', sha256Digest('other'), bytes)).rejects.toThrow(
      /could not push blob sha256:[0-9a-f]+ to repository "acme\/bad".*400/,
    );
  });
});
