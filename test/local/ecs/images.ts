import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostPlatform } from '#local/registry/base-images.ts';
import type { LocalRegistry } from '#local/registry/server.ts';
import { writeLayer } from '#shared/oci/layer.ts';
import { RegistryClient } from '#shared/oci/registry-client.ts';
import {
  type ImageConfig,
  Index,
  type Manifest,
  MediaType,
  parsePlatform,
  selectPlatform,
  sha256Digest,
} from '#shared/oci/types.ts';

/**
 * A tiny HTTP service for the local ECS tests: answers `{version, instance}` (after `?delay=` ms),
 * `/healthz` 200 (500 when HEALTH=fail), exits at once with EXIT_AT_ONCE, and closes gracefully
 * on SIGTERM, as a well-behaved service does.
 */
export const appServer = `
const http = require('node:http');
const version = process.env.VERSION ?? 'unknown';
const instance = require('node:crypto').randomUUID();
if (process.env.EXIT_AT_ONCE) {
  console.error('exiting at once, as asked');
  process.exit(Number(process.env.EXIT_AT_ONCE));
}
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/healthz') {
    const ok = process.env.HEALTH !== 'fail';
    res.writeHead(ok ? 200 : 500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: ok ? 'ok' : 'failing' }));
    return;
  }
  const delay = Number(url.searchParams.get('delay') ?? 0);
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version, instance }));
  }, delay);
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on', process.env.PORT, 'version', version));
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
`;

export interface AppImage {
  /** `host/repository@sha256:…` */
  uri: string;
  digest: string;
}

/** Pushes an image of {@link appServer}, with `VERSION` and `env` in its config. */
export function pushAppImage(
  registry: LocalRegistry,
  repository: string,
  options: { version: string; env?: Record<string, string> },
): Promise<AppImage> {
  return pushNodeImage(registry, repository, {
    tag: options.version,
    files: [{ path: 'app/server.js', content: appServer }],
    cmd: ['node', '/app/server.js'],
    workdir: '/app',
    env: { VERSION: options.version, ...options.env },
  });
}

/**
 * Pushes an image made of the local registry's `library/node` (this machine's node) and one layer
 * with `files`, tagged `tag`.
 */
export async function pushNodeImage(
  registry: LocalRegistry,
  repository: string,
  options: {
    tag: string;
    files: { path: string; content: string | Buffer }[];
    cmd: string[];
    workdir: string;
    env?: Record<string, string>;
  },
): Promise<AppImage> {
  await registry.baseImagesReady;
  const client = new RegistryClient({
    registry: registry.host,
    insecure: true,
    auth: { kind: 'basic', username: 'AWS', password: registry.password },
  });
  const fetched = await client.getManifest('library/node', 'latest');
  const index = Index.parse(JSON.parse(fetched.bytes.toString('utf8')));
  const entry = selectPlatform(index, parsePlatform(hostPlatform()));
  if (!entry) throw new Error('the local registry has no library/node for this platform');
  const base = JSON.parse(
    (await client.getManifest('library/node', entry.digest)).bytes.toString('utf8'),
  ) as Manifest;
  const baseConfig = JSON.parse(
    (await client.getBlobBytes('library/node', base.config.digest)).toString('utf8'),
  ) as ImageConfig;
  const dir = mkdtempSync(join(tmpdir(), 'stepline-app-image-'));
  try {
    const layerFile = join(dir, 'layer.tar.gz');
    const layer = await writeLayer(
      options.files.map((file) => ({
        path: file.path,
        type: 'file' as const,
        mode: 0o644,
        content: Buffer.from(file.content),
      })),
      layerFile,
      { mtime: new Date('2026-01-01T00:00:00Z') },
    );
    for (const blob of base.layers) {
      await client.pushBlob(repository, blob.digest, Buffer.alloc(0), { mountFrom: 'library/node' });
    }
    await client.pushBlob(repository, layer.digest, { path: layerFile });
    const config: ImageConfig = {
      ...baseConfig,
      config: {
        ...baseConfig.config,
        Env: [
          ...(baseConfig.config?.Env ?? []),
          ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
        ],
        Cmd: options.cmd,
        WorkingDir: options.workdir,
      },
      rootfs: { type: 'layers', diff_ids: [...baseConfig.rootfs.diff_ids, layer.diffId] },
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = sha256Digest(configBytes);
    await client.pushBlob(repository, configDigest, configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length },
      layers: [...base.layers, { mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
    };
    const digest = await client.putManifest(
      repository,
      options.tag,
      Buffer.from(JSON.stringify(manifest)),
      MediaType.ociManifest,
    );
    return { uri: `${registry.host}/${repository}@${digest}`, digest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
