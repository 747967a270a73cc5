import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalRegistry, startLocalRegistry } from '#local/registry/server.ts';
import { MediaType } from '#shared/oci/types.ts';

export const sha256 = (bytes: Buffer | string) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The key the test registries' ECR API accepts (the tests' ECR clients sign with it). */
export const registryTestCredentials = { accessKeyId: 'any', secretAccessKey: 'any' };

export interface TestRegistry extends LocalRegistry {
  /** Basic credentials for pushes. */
  auth: { authorization: string };
  url(path: string): string;
  /** Stops this instance and starts another on the same directory. */
  restart(): Promise<TestRegistry>;
  remove(): Promise<void>;
}

export async function startTestRegistry(
  options: { baseImages?: boolean; dir?: string } = {},
): Promise<TestRegistry> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'stepline-registry-')));
  const registry = await startLocalRegistry({
    dir,
    baseImages: options.baseImages ?? false,
    credentials: registryTestCredentials,
  });
  const auth = { authorization: `Basic ${Buffer.from(`AWS:${registry.password}`).toString('base64')}` };
  const self: TestRegistry = {
    ...registry,
    auth,
    url: (path) => `${registry.endpoint}${path}`,
    restart: async () => {
      await registry.close();
      return startTestRegistry({ ...options, dir });
    },
    remove: async () => {
      await registry.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return self;
}

/** Pushes a blob in one POST; returns its digest. */
export async function pushBlob(registry: TestRegistry, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const response = await fetch(registry.url(`/v2/${repo}/blobs/uploads/?digest=${digest}`), {
    method: 'POST',
    headers: { ...registry.auth, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  if (response.status !== 201) throw new Error(`push blob: ${response.status} ${await response.text()}`);
  return digest;
}

export interface TestImage {
  manifest: Buffer;
  digest: string;
  config: Buffer;
  layers: Buffer[];
}

/** A small image (random layer bytes: a distinct image each call) as an OCI manifest. */
export function makeImage(layerCount = 1): TestImage {
  const layers = Array.from({ length: layerCount }, () =>
    randomBytes(1024 + Math.floor(Math.random() * 1024)),
  );
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => sha256(layer)) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
      layers: layers.map((layer) => ({
        mediaType: MediaType.ociLayer,
        digest: sha256(layer),
        size: layer.length,
      })),
    }),
  );
  return { manifest, digest: sha256(manifest), config, layers };
}

/** Pushes an image's blobs, then its manifest under `reference`. */
export async function pushImage(
  registry: TestRegistry,
  repo: string,
  reference: string,
  image: TestImage = makeImage(),
): Promise<TestImage> {
  for (const blob of [image.config, ...image.layers]) await pushBlob(registry, repo, blob);
  await putManifest(registry, repo, reference, image.manifest, MediaType.ociManifest, 201);
  return image;
}

export async function putManifest(
  registry: TestRegistry,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
  expectStatus?: number,
): Promise<Response> {
  const response = await fetch(registry.url(`/v2/${repo}/manifests/${reference}`), {
    method: 'PUT',
    headers: { ...registry.auth, 'content-type': mediaType },
    body: bytes,
  });
  if (expectStatus !== undefined && response.status !== expectStatus)
    throw new Error(`put manifest: ${response.status} ${await response.text()}`);
  return response;
}

/** The OCI error codes of a response body. */
export async function errorCodes(response: Response): Promise<string[]> {
  const body = (await response.json()) as { errors: { code: string }[] };
  return body.errors.map((error) => error.code);
}

/** Whether a command-line tool is on the PATH. */
export async function onPath(tool: string): Promise<boolean> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => execFile(tool, ['--version'], (error) => resolve(!error)));
}
