import { execFile } from 'node:child_process';
import { realpath, rm, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type LayerEntry, writeLayer } from '#shared/oci/layer.ts';
import { type ImageConfig, type Index, type Manifest, MediaType } from '#shared/oci/types.ts';
import { DistributionError } from './errors.ts';
import { type RegistryStorage, sha256Of } from './storage.ts';

/** The repository the local registry builds from this machine. */
export const nodeRepository = 'library/node';
/** Label on the image config, and annotation on the layout entry that keys the cache. */
export const localBaseLabel = 'io.stepline.local-base';
const cacheKeyAnnotation = 'io.stepline.local-base.key';

const run = promisify(execFile);

/** What the host offers: its node binary, version and platform. */
export interface HostNode {
  /** The node binary (symlinks resolved). */
  binary: string;
  /** `v20.19.1` */
  version: string;
  /** `linux/amd64` or `linux/arm64` */
  platform: string;
}

/** The OCI architecture name of a Node `process.arch`. */
export function ociArchitecture(arch: string = process.arch): string {
  const known: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
  };
  return known[arch] ?? arch;
}

/** This machine's platform as an image platform: `linux/amd64`, `linux/arm64`. */
export function hostPlatform(): string {
  return `${process.platform}/${ociArchitecture()}`;
}

export async function hostNode(): Promise<HostNode> {
  return { binary: await realpath(process.execPath), version: process.version, platform: hostPlatform() };
}

/** The tags the build carries; every other `library/node` tag answers with the same image. */
export function nodeTags(version: string): string[] {
  const major = version.replace(/^v/, '').split('.')[0] ?? '0';
  return [major, `${major}-slim`, 'lts', 'latest'];
}

/**
 * The shared libraries `ldd` lists for `binary`, the dynamic loader included, as the paths the
 * loader looks them up by (the vDSO has no file and is left out).
 */
export async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [binary]));
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('ldd is not installed (it comes with glibc: apt-get install libc-bin)');
    // A statically linked binary: ldd says so and exits 1.
    if (
      /not a dynamic executable|statically linked/.test(e.stderr ?? '') ||
      /statically linked/.test(String(e))
    )
      return [];
    throw new Error(`ldd ${binary} failed: ${e.stderr?.trim() || e.message}`);
  }
  const libraries: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    if (line.includes('=> not found'))
      throw new Error(`ldd ${binary}: ${line.split(' ')[0]} is not found on this machine`);
    const match = /=>\s*(\/\S+)\s+\(/.exec(line) ?? /^(\/\S+)\s+\(/.exec(line);
    if (match?.[1] && !libraries.includes(match[1])) libraries.push(match[1]);
  }
  return libraries;
}

const passwd = `root:x:0:0:root:/root:/sbin/nologin
node:x:1000:1000::/home/node:/sbin/nologin
`;
const group = `root:x:0:
node:x:1000:
`;

/** The file system of the image: node at /usr/local/bin, its libraries where ldd found them. */
export async function nodeImageEntries(node: HostNode): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [
    { path: 'usr/local/bin/node', type: 'file', mode: 0o755, source: node.binary },
    { path: 'etc/passwd', type: 'file', mode: 0o644, content: Buffer.from(passwd) },
    { path: 'etc/group', type: 'file', mode: 0o644, content: Buffer.from(group) },
    { path: 'tmp', type: 'directory', mode: 0o1777 },
    { path: 'root', type: 'directory', mode: 0o700 },
    { path: 'home/node', type: 'directory', mode: 0o755, uid: 1000, gid: 1000 },
  ];
  for (const library of await sharedLibraries(node.binary)) {
    // The file the loader opens, stored at the path it looks for (symlinks on the host resolved).
    entries.push({ path: library, type: 'file', mode: 0o755, source: await realpath(library) });
  }
  return entries;
}

function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * Builds `library/node` from this machine's Node into the registry, unless the registry already
 * holds the build for this node version and platform. Resolves to the index digest, and whether
 * it was built now.
 */
export async function buildNodeImage(
  storage: RegistryStorage,
  node: HostNode,
): Promise<{ digest: string; built: boolean }> {
  const key = `node ${node.version} ${node.platform} ${node.binary}`;
  const cached = await storage.findManifest(nodeRepository, 'latest');
  if (cached?.annotations[cacheKeyAnnotation] === key) return { digest: cached.digest, built: false };

  const [os = 'linux', architecture = 'amd64'] = node.platform.split('/');
  // The binary's mtime, not the clock: the same binary gives the same image digest.
  const created = new Date(Math.floor((await stat(node.binary)).mtimeMs / 1000) * 1000);
  const layerFile = storage.tempPath();
  try {
    const layer = await writeLayer(await nodeImageEntries(node), layerFile, { mtime: created, gzipLevel: 1 });
    await storage.commitBlob(nodeRepository, layerFile, layer.digest);
    const description = `built from this machine's node ${node.version} (${node.binary}) and the shared libraries ldd lists for it`;
    const config: ImageConfig = {
      created: created.toISOString(),
      architecture,
      os,
      config: {
        Env: [
          'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          `NODE_VERSION=${node.version.replace(/^v/, '')}`,
        ],
        Cmd: ['node'],
        Labels: { [localBaseLabel]: description },
      },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: created.toISOString(), created_by: `stepline local registry: ${description}` }],
    };
    const configBytes = canonicalJson(config);
    const configDigest = await storage.putBlobBytes(nodeRepository, configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length },
      layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
      annotations: { [localBaseLabel]: description },
    };
    const manifestBytes = canonicalJson(manifest);
    const image = await storage.putManifest(
      nodeRepository,
      sha256Of(manifestBytes),
      manifestBytes,
      MediaType.ociManifest,
    );
    const index: Index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        {
          mediaType: MediaType.ociManifest,
          digest: image.digest,
          size: manifestBytes.length,
          platform: { os, architecture },
        },
      ],
      annotations: { [localBaseLabel]: description },
    };
    const indexBytes = canonicalJson(index);
    const [first, ...more] = nodeTags(node.version);
    const stored = await storage.putManifest(
      nodeRepository,
      first ?? 'latest',
      indexBytes,
      MediaType.ociIndex,
      {
        tags: more,
        annotations: { [cacheKeyAnnotation]: key },
      },
    );
    return { digest: stored.digest, built: true };
  } finally {
    await rm(layerFile, { force: true });
  }
}

/** What the registry server asks of the base images. */
export interface BaseImages {
  /** Whether the registry builds `name` itself (pushes to it are refused). */
  owns(name: string): boolean;
  /** Resolves once the build of `name` (when it is a base repository) has finished. */
  ready(name: string): Promise<void>;
  /**
   * The tag that a tag of a base repository stands for, with a warning when it is not one the
   * build carries; undefined outside the base repositories.
   */
  alias(name: string, tag: string): { tag: string; warning?: string } | undefined;
  /** The message for a missing repository under `library/`; undefined for other names. */
  unknownMessage(name: string, repositories: string[]): string | undefined;
  /** Settles (never rejects) when the build has ended. */
  settled: Promise<void>;
}

/**
 * Starts building the base images in the background and answers for them: a request for
 * `library/node` waits for the build; a `library/node` tag that was not built (e.g. `22-slim`
 * on a machine running Node 20) is the host's build, since locally every node tag is the host's
 * Node; a missing `library/<other>` is an error that lists what the registry holds.
 */
export function startBaseImages(
  storage: RegistryStorage,
  options: { onError?: (error: Error) => void; node?: () => Promise<HostNode> } = {},
): BaseImages {
  let version = process.version;
  const build = (async () => {
    const node = await (options.node ?? hostNode)();
    version = node.version;
    return buildNodeImage(storage, node);
  })();
  const settled = build.then(
    () => {},
    (error: Error) => options.onError?.(error),
  );
  return {
    settled,
    owns: (name) => name === nodeRepository,
    async ready(name) {
      if (name !== nodeRepository) return;
      try {
        await build;
      } catch (error) {
        throw new DistributionError(
          'NAME_UNKNOWN',
          `the local base image ${nodeRepository} could not be built from this machine's node: ${(error as Error).message}`,
        );
      }
    },
    alias(name, tag) {
      if (name !== nodeRepository) return undefined;
      // Every tag is the current host build, also the tags an earlier build (another node) had.
      if (nodeTags(version).includes(tag)) return { tag: 'latest' };
      return {
        tag: 'latest',
        warning: `${name}:${tag} is served by this machine's node ${version}: in the local registry every node tag is the host's Node`,
      };
    },
    unknownMessage(name, repositories) {
      if (!name.startsWith('library/')) return undefined;
      const others = repositories.filter((r) => r !== nodeRepository);
      return `${name} is not in the local registry: base images are built from this machine, and the only one is ${nodeRepository} (node:<any tag> is this machine's node ${version}). The registry holds: ${[nodeRepository, ...others].join(', ')}. To use another base offline, copy it into ${name} first (skopeo copy with --dest-creds AWS:<password>)`;
    },
  };
}
