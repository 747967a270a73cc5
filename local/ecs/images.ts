import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { extractLayer } from '#shared/oci/layer.ts';
import { type ImageReference, parseImageReference } from '#shared/oci/reference.ts';
import { type RegistryAuth, RegistryClient, RegistryError } from '#shared/oci/registry-client.ts';
import {
  type ContainerConfig,
  ImageConfig,
  type Manifest,
  parseManifestDocument,
  parsePlatform,
  selectPlatform,
  sha256Digest,
} from '#shared/oci/types.ts';

const execFileAsync = promisify(execFile);

/** Why an image could not be pulled; its message is what ECS says in a `CannotPullContainerError`. */
export class CannotPullContainerError extends Error {
  override name = 'CannotPullContainerError';
}

/** What a task needs of an image: its unpacked root and how to start it. */
export interface PreparedImage {
  reference: string;
  /** Digest of the (platform) manifest the root was made from. */
  manifestDigest: string;
  /** `<data>/ecs/roots/<manifest digest>/rootfs` */
  root: string;
  config: ContainerConfig;
}

/** Reads manifests and blobs from a registry. */
export interface ImageSource {
  /** The manifest bytes and media type for `ref.reference` (a digest or a tag). */
  manifest(ref: ImageReference): Promise<{ bytes: Buffer; mediaType: string }>;
  blob(ref: ImageReference, digest: string): Promise<Readable>;
}

const isLoopback = (registry: string) => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(registry);

/**
 * Images from registries through the OCI distribution client (functions/shared/oci): plain http
 * for loopback registries (the local ECR, whose reads are anonymous), https elsewhere. A registry
 * error becomes a CannotPullContainerError that names the image and the registry's answer.
 */
export function registryImageSource(
  options: { auth?: (registry: string) => RegistryAuth | undefined } = {},
): ImageSource {
  const clients = new Map<string, RegistryClient>();
  const client = (registry: string) => {
    let found = clients.get(registry);
    if (!found) {
      const auth = options.auth?.(registry);
      found = new RegistryClient({
        registry,
        insecure: isLoopback(registry),
        retries: 1,
        ...(auth ? { auth } : {}),
      });
      clients.set(registry, found);
    }
    return found;
  };
  const pullError = (ref: ImageReference, error: unknown) => {
    const name = `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}`;
    if (error instanceof RegistryError && error.kind === 'not-found')
      return new CannotPullContainerError(
        `pull image manifest has been retried 1 time(s): failed to resolve ref ${name}: not found`,
      );
    return new CannotPullContainerError(
      `pull image manifest has been retried 1 time(s): ${name}: ${(error as Error).message}`,
    );
  };
  return {
    async manifest(ref) {
      try {
        const fetched = await client(ref.registry).getManifest(ref.repository, ref.reference);
        return { bytes: fetched.bytes, mediaType: fetched.mediaType };
      } catch (error) {
        throw pullError(ref, error);
      }
    },
    async blob(ref, digest) {
      try {
        return (await client(ref.registry).getBlob(ref.repository, digest)).stream;
      } catch (error) {
        throw pullError({ ...ref, digest, reference: digest }, error);
      }
    },
  };
}

/** `linux/amd64` or `linux/arm64`: the platform this machine runs. */
export function hostPlatform(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return `linux/${arch}`;
}

/**
 * Pulls images by reference and unpacks each manifest's layers once into
 * `<rootsDir>/<manifest digest>/rootfs`, shared by every task that runs it. A root is made in a
 * temporary directory and renamed into place, so a half-unpacked root is never used.
 */
export class ImageCache {
  readonly #rootsDir: string;
  readonly #source: ImageSource;
  readonly #pending = new Map<string, Promise<PreparedImage>>();

  constructor(rootsDir: string, source: ImageSource) {
    this.#rootsDir = rootsDir;
    this.#source = source;
  }

  /** Pulls and unpacks `reference` (by digest or tag); throws CannotPullContainerError naming the cause. */
  prepare(reference: string): Promise<PreparedImage> {
    let pending = this.#pending.get(reference);
    if (!pending) {
      pending = this.#prepare(reference).finally(() => this.#pending.delete(reference));
      this.#pending.set(reference, pending);
    }
    return pending;
  }

  async #prepare(reference: string): Promise<PreparedImage> {
    let ref: ImageReference;
    try {
      ref = parseImageReference(reference);
    } catch (error) {
      throw new CannotPullContainerError((error as Error).message);
    }
    // Content by digest never changes: a root made before is used without asking the registry,
    // which may be gone or elsewhere since (the local registry's port changes between runs).
    if (ref.digest) {
      const known = await this.#unpacked(reference, await this.#aliasOf(ref.digest));
      if (known) return known;
    }
    const { manifest, digest } = await this.#resolveManifest(ref);
    if (ref.digest && ref.digest !== digest) await this.#writeAlias(ref.digest, digest);
    const dir = join(this.#rootsDir, digest.replace(':', '-'));
    const root = join(dir, 'rootfs');
    const known = await this.#unpacked(reference, digest);
    if (known) return known;
    const configBytes = await streamToBuffer(await this.#source.blob(ref, manifest.config.digest));
    const config = ImageConfig.parse(JSON.parse(configBytes.toString('utf8')));
    const temp = `${dir}.${randomBytes(4).toString('hex')}.tmp`;
    const layers = manifest.layers.map((layer) => layer.digest);
    try {
      // The root of every layer but the last (the base image's, typically) is kept once, pristine,
      // under chains/; a new revision on the same base copies it with `cp` (in its own process)
      // and unpacks only its own layers.
      const base = await this.#longestChain(layers.slice(0, -1));
      const rootfs = join(temp, 'rootfs');
      if (base) {
        await mkdir(temp, { recursive: true });
        await execFileAsync('cp', ['-a', base.rootfs, rootfs]);
      }
      let applied = base?.layers ?? 0;
      const extract = async (digest: string) => {
        await extractLayer(await this.#source.blob(ref, digest), rootfs);
        applied++;
      };
      while (applied < layers.length - 1) await extract(layers[applied]!);
      if (layers.length > 1 && !base) await this.#saveChain(layers.slice(0, -1), rootfs);
      while (applied < layers.length) await extract(layers[applied]!);
      await writeFile(join(temp, 'layers.json'), `${JSON.stringify(layers)}\n`);
      await writeFile(join(temp, 'config.json'), configBytes);
      await mkdir(this.#rootsDir, { recursive: true });
      await rename(temp, dir).catch(async (error: NodeJS.ErrnoException) => {
        // Another runtime unpacked the same digest meanwhile: theirs is as good as ours.
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
        await rm(temp, { recursive: true, force: true });
      });
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      if (error instanceof CannotPullContainerError) throw error;
      throw new CannotPullContainerError(`failed to unpack ${reference}: ${(error as Error).message}`);
    }
    return { reference, manifestDigest: digest, root, config: config.config ?? {} };
  }

  /** The kept chain root whose layers are the longest prefix of `layers`, if any. */
  async #longestChain(layers: string[]): Promise<{ rootfs: string; layers: number } | undefined> {
    for (let n = layers.length; n > 0; n--) {
      const dir = join(this.#rootsDir, 'chains', chainKey(layers.slice(0, n)));
      if (existsSync(join(dir, 'layers.json'))) return { rootfs: join(dir, 'rootfs'), layers: n };
    }
    return undefined;
  }

  async #saveChain(layers: string[], rootfs: string): Promise<void> {
    const dir = join(this.#rootsDir, 'chains', chainKey(layers));
    const temp = `${dir}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(temp, { recursive: true });
      await execFileAsync('cp', ['-a', rootfs, join(temp, 'rootfs')]);
      await writeFile(join(temp, 'layers.json'), `${JSON.stringify(layers)}\n`);
      await rename(temp, dir);
    } catch {
      // Only a cache: the next image on this base unpacks it again.
      await rm(temp, { recursive: true, force: true });
    }
  }

  async #unpacked(reference: string, digest: string): Promise<PreparedImage | undefined> {
    const dir = join(this.#rootsDir, digest.replace(':', '-'));
    const configFile = join(dir, 'config.json');
    if (!existsSync(configFile)) return undefined;
    const config = ImageConfig.parse(JSON.parse(await readFile(configFile, 'utf8')));
    return { reference, manifestDigest: digest, root: join(dir, 'rootfs'), config: config.config ?? {} };
  }

  /** The platform manifest an index digest was resolved to before, else the digest itself. */
  async #aliasOf(digest: string): Promise<string> {
    try {
      return (await readFile(join(this.#rootsDir, 'indexes', digest.replace(':', '-')), 'utf8')).trim();
    } catch {
      return digest;
    }
  }

  async #writeAlias(indexDigest: string, manifestDigest: string): Promise<void> {
    await mkdir(join(this.#rootsDir, 'indexes'), { recursive: true });
    await writeFile(join(this.#rootsDir, 'indexes', indexDigest.replace(':', '-')), `${manifestDigest}\n`);
  }

  async #resolveManifest(ref: ImageReference): Promise<{ manifest: Manifest; digest: string }> {
    const { bytes, mediaType } = await this.#source.manifest(ref);
    const digest = sha256Digest(bytes);
    if (ref.digest && ref.digest !== digest) {
      throw new CannotPullContainerError(
        `manifest of ${ref.repository}@${ref.digest} has digest ${digest}: the registry answered other bytes`,
      );
    }
    const document = parseManifestDocument(bytes, mediaType);
    if (document.kind === 'manifest') return { manifest: document.manifest, digest };
    const wanted = hostPlatform();
    const entry = selectPlatform(document.index, parsePlatform(wanted));
    if (!entry) {
      throw new CannotPullContainerError(
        `image ${ref.repository}@${digest} has no manifest for ${wanted} (it has ${document.index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : m.digest)).join(', ')})`,
      );
    }
    return this.#resolveManifest({ ...ref, digest: entry.digest, reference: entry.digest });
  }
}

/** A directory name for a chain of layers. */
function chainKey(layers: string[]): string {
  return sha256Digest(layers.join(' ')).replace(':', '-');
}

async function streamToBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
