import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildNodeImage,
  hostNode,
  hostPlatform,
  localBaseLabel,
  nodeRepository,
  sharedLibraries,
} from '#local/registry/base-images.ts';
import { RegistryStorage } from '#local/registry/storage.ts';
import { extractLayer } from '#shared/oci/layer.ts';
import { type Index, type Manifest, MediaType } from '#shared/oci/types.ts';
import {
  errorCodes,
  makeImage,
  onPath,
  pushImage,
  putManifest,
  startTestRegistry,
  type TestRegistry,
} from './helpers.ts';

const major = process.versions.node.split('.')[0];
const lddAvailable = process.platform === 'linux' && (await onPath('ldd'));
if (!lddAvailable) console.warn('skipping the base image tests: they need Linux with ldd (glibc)');
const bwrapUsable =
  lddAvailable &&
  (await new Promise<boolean>((resolve) =>
    execFile('bwrap', ['--ro-bind', '/', '/', '--unshare-all', 'true'], (error) => resolve(!error)),
  ));
if (lddAvailable && !bwrapUsable)
  console.warn(
    'skipping the isolated run of the base image: bwrap is missing or cannot make namespaces here',
  );

let registry: TestRegistry;
let work: string;

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function json<T>(path: string): Promise<T> {
  const response = await fetch(registry.url(path));
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** The host build's platform manifest, via the index tagged `tag`. */
async function platformManifest(tag: string): Promise<Manifest> {
  const index = await json<Index>(`/v2/library/node/manifests/${tag}`);
  return json<Manifest>(`/v2/library/node/manifests/${index.manifests[0]?.digest}`);
}

let unpacked: Promise<string> | undefined;

/** The platform layer unpacked into a directory (once for the file). */
function rootfs(): Promise<string> {
  unpacked ??= (async () => {
    const manifest = await platformManifest(major ?? 'latest');
    const layer = await fetch(registry.url(`/v2/library/node/blobs/${manifest.layers[0]?.digest}`));
    const root = join(work, 'rootfs');
    await extractLayer(Readable.fromWeb(layer.body as import('node:stream/web').ReadableStream), root);
    return root;
  })();
  return unpacked;
}

beforeAll(async () => {
  if (!lddAvailable) return;
  work = await mkdtemp(join(tmpdir(), 'stepline-base-'));
  registry = await startTestRegistry({ baseImages: true });
});

afterAll(async () => {
  if (!lddAvailable) return;
  await registry.remove();
  await rm(work, { recursive: true, force: true });
});

describe('library/node built from this machine', () => {
  it.skipIf(!lddAvailable)(
    'makes the first request wait for the build, then serves an index for the host platform',
    async () => {
      // No wait for baseImagesReady: the request itself waits for the build.
      const response = await fetch(registry.url(`/v2/library/node/manifests/${major}`));

      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(MediaType.ociIndex);
      const index = (await response.json()) as Index;
      expect(index.manifests).toHaveLength(1);
      const [os, architecture] = hostPlatform().split('/');
      expect(index.manifests[0]?.platform).toEqual({ os, architecture });
    },
  );

  it.skipIf(!lddAvailable)('tags it with the host major, -slim, lts and latest', async () => {
    const tags = await json<{ tags: string[] }>('/v2/library/node/tags/list');

    expect(tags.tags).toEqual([major, `${major}-slim`, 'latest', 'lts'].sort());
  });

  it.skipIf(!lddAvailable)(
    "configures node as the command and labels the image with the host's node version",
    async () => {
      const manifest = await platformManifest('latest');
      const config = await json<{
        config: { Env: string[]; Cmd: string[]; Labels: Record<string, string> };
        rootfs: { diff_ids: string[] };
      }>(`/v2/library/node/blobs/${manifest.config.digest}`);

      expect(config.config.Cmd).toEqual(['node']);
      expect(config.config.Env).toContain(`NODE_VERSION=${process.versions.node}`);
      expect(config.config.Env.some((e) => e.startsWith('PATH=') && e.includes('/usr/local/bin'))).toBe(true);
      expect(config.config.Labels[localBaseLabel]).toContain(`this machine's node ${process.version}`);
      expect(manifest.layers).toHaveLength(1);
      expect(config.rootfs.diff_ids).toHaveLength(1);
    },
  );

  it.skipIf(!lddAvailable)(
    'answers any other node tag with the same host build and a warning that says so',
    async () => {
      const latest = await fetch(registry.url('/v2/library/node/manifests/latest'), { method: 'HEAD' });
      const other = await fetch(registry.url('/v2/library/node/manifests/22-slim'), { method: 'HEAD' });

      expect(other.status).toBe(200);
      expect(other.headers.get('docker-content-digest')).toBe(latest.headers.get('docker-content-digest'));
      expect(other.headers.get('warning')).toContain("every node tag is the host's Node");
    },
  );

  it.skipIf(!lddAvailable)(
    'answers another library image with MANIFEST_UNKNOWN and a message listing what it holds',
    async () => {
      const response = await fetch(registry.url('/v2/library/python/manifests/3.12-slim'));

      expect(response.status).toBe(404);
      const body = (await response.clone().json()) as { errors: { message: string }[] };
      expect(await errorCodes(response)).toEqual(['MANIFEST_UNKNOWN']);
      expect(body.errors[0]?.message).toContain('library/python is not in the local registry');
      expect(body.errors[0]?.message).toContain('library/node');
    },
  );

  it.skipIf(!lddAvailable)(
    'holds a layer that runs: node and the libraries ldd lists, users, /tmp and /home/node',
    async () => {
      const root = await rootfs();

      const result = await run(join(root, 'usr/local/bin/node'), ['-e', 'console.log(1)']);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('1\n');
      const node = await hostNode();
      for (const library of await sharedLibraries(node.binary))
        expect((await stat(join(root, library))).isFile()).toBe(true);
      const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
      expect(passwd).toMatch(/^root:x:0:0:/m);
      expect(passwd).toMatch(/^node:x:1000:1000:/m);
      expect(await readFile(join(root, 'etc/group'), 'utf8')).toMatch(/^node:x:1000:/m);
      expect((await stat(join(root, 'tmp'))).mode & 0o7777).toBe(0o1777);
      expect((await stat(join(root, 'home/node'))).isDirectory()).toBe(true);
    },
  );

  it.skipIf(!bwrapUsable)('runs with nothing but its own files as the root, as the node user', async () => {
    const root = await rootfs();

    const result = await run('bwrap', [
      ...['--bind', root, '/', '--proc', '/proc', '--dev', '/dev', '--unshare-all', '--clearenv'],
      ...['--uid', '1000', '--gid', '1000', '--chdir', '/home/node'],
      ...['/usr/local/bin/node', '-e', 'console.log(require("os").userInfo().username, process.version)'],
    ]);

    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`node ${process.version}\n`);
  });

  it.skipIf(!lddAvailable)(
    'is built once per data directory and node version, not again after a restart',
    async () => {
      await registry.baseImagesReady;
      const before = await fetch(registry.url('/v2/library/node/manifests/latest'), { method: 'HEAD' });
      const storage = new RegistryStorage(registry.dir);

      const again = await buildNodeImage(storage, await hostNode());

      expect(again).toEqual({ digest: before.headers.get('docker-content-digest'), built: false });
    },
  );
  it.skipIf(!lddAvailable)(
    'refuses pushes to library/node, which it builds itself, with DENIED',
    async () => {
      const image = makeImage();

      const upload = await fetch(registry.url('/v2/library/node/blobs/uploads/'), {
        method: 'POST',
        headers: registry.auth,
      });
      const manifest = await putManifest(
        registry,
        'library/node',
        'mine',
        image.manifest,
        MediaType.ociManifest,
      );

      expect(upload.status).toBe(403);
      expect(await errorCodes(upload)).toEqual(['DENIED']);
      expect(manifest.status).toBe(403);
    },
  );

  it.skipIf(!lddAvailable)('serves another base image once it has been copied into library/', async () => {
    const image = await pushImage(registry, 'library/python', '3.12-slim');

    const response = await fetch(registry.url('/v2/library/python/manifests/3.12-slim'), { method: 'HEAD' });

    expect(response.status).toBe(200);
    expect(response.headers.get('docker-content-digest')).toBe(image.digest);
  });
});

describe('the base image build', () => {
  it.skipIf(!lddAvailable)('lists the dynamic loader among the shared libraries of node', async () => {
    const libraries = await sharedLibraries((await hostNode()).binary);

    expect(libraries.some((path) => /\/ld-linux[^/]*\.so/.test(path))).toBe(true);
    expect(libraries.some((path) => /\/libc\.so/.test(path))).toBe(true);
  });

  it.skipIf(!lddAvailable)('stores the build under library/node in the OCI layout', async () => {
    await registry.baseImagesReady;

    const index = JSON.parse(await readFile(join(registry.dir, nodeRepository, 'index.json'), 'utf8'));

    const refs = index.manifests.map(
      (m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'],
    );
    expect(refs).toContain('latest');
    expect(refs).toContain(`${major}-slim`);
  });
});
