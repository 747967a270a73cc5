import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonBlob } from '#shared/oci/image.ts';
import { writeLayer } from '#shared/oci/layer.ts';
import type { RegistryClient } from '#shared/oci/registry-client.ts';
import { MediaType } from '#shared/oci/types.ts';

export interface TestBase {
  /** Digest of what the tag names (an index when several platforms). */
  digest: string;
  /** Layer digest per `os/arch`. */
  layers: Record<string, string>;
}

/**
 * Pushes a tiny base image to `repository:tag`: per platform one layer (an `/etc/passwd` with a
 * `node` user and a file naming the platform) and a config with PATH, a Cmd and a label. One
 * platform gives a plain OCI manifest; several give an OCI index.
 */
export async function pushTestBase(
  client: RegistryClient,
  repository: string,
  tag: string,
  platforms: string[] = ['linux/amd64'],
): Promise<TestBase> {
  const dir = await mkdtemp(join(tmpdir(), 'stepline-test-base-'));
  try {
    const manifests: { digest: string; size: number; platform: { os: string; architecture: string } }[] = [];
    const layers: Record<string, string> = {};
    for (const platform of platforms) {
      const [os = 'linux', architecture = 'amd64'] = platform.split('/');
      const file = join(dir, `${architecture}.tar.gz`);
      const layer = await writeLayer(
        [
          {
            path: 'etc/passwd',
            type: 'file',
            mode: 0o644,
            content: Buffer.from('root:x:0:0::/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n'),
          },
          { path: 'etc/platform', type: 'file', mode: 0o644, content: Buffer.from(`${platform}\n`) },
        ],
        file,
        { mtime: new Date('2024-01-01T00:00:00Z') },
      );
      layers[platform] = layer.digest;
      const config = jsonBlob(
        {
          architecture,
          os,
          created: '2024-01-01T00:00:00Z',
          config: {
            Env: ['PATH=/usr/local/bin:/usr/bin:/bin'],
            Cmd: ['sh'],
            Labels: { 'base.label': 'kept' },
          },
          rootfs: { type: 'layers', diff_ids: [layer.diffId] },
          history: [{ created: '2024-01-01T00:00:00Z', created_by: 'test base' }],
        },
        MediaType.ociConfig,
      );
      await client.pushBlob(repository, layer.digest, { path: file });
      await client.pushBlob(repository, config.descriptor.digest, config.bytes);
      const manifest = jsonBlob(
        {
          schemaVersion: 2,
          mediaType: MediaType.ociManifest,
          config: config.descriptor,
          layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
        },
        MediaType.ociManifest,
      );
      const digest = await client.putManifest(
        repository,
        platforms.length === 1 ? tag : manifest.descriptor.digest,
        manifest.bytes,
        MediaType.ociManifest,
      );
      manifests.push({ digest, size: manifest.bytes.length, platform: { os, architecture } });
    }
    if (platforms.length === 1) return { digest: manifests[0]!.digest, layers };
    const index = jsonBlob(
      {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          ...manifests.map((m) => ({ mediaType: MediaType.ociManifest, ...m })),
          // An attestation entry, as Docker Hub's indexes have: never a platform to pick.
          {
            ...manifests[0]!,
            mediaType: MediaType.ociManifest,
            platform: { os: 'unknown', architecture: 'unknown' },
          },
        ],
      },
      MediaType.ociIndex,
    );
    const digest = await client.putManifest(repository, tag, index.bytes, MediaType.ociIndex);
    return { digest, layers };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
