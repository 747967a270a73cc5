import { createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ImagePublishFailedError } from '#shared/errors.ts';
import { appendLayerToConfig, imageTags, jsonBlob, manifestOnBase } from '#shared/oci/image.ts';
import { type LayerEntry, writeLayer } from '#shared/oci/layer.ts';
import { formatImageReference, type ImageReference, parseImageReference } from '#shared/oci/reference.ts';
import { RegistryClient, RegistryError } from '#shared/oci/registry-client.ts';
import {
  formatPlatform,
  ImageConfig,
  type Manifest,
  MediaType,
  parseManifestDocument,
  parsePlatform,
  selectPlatform,
  sha256Digest,
} from '#shared/oci/types.ts';
import { minimalImageExample } from '#shared/pipeline-config.ts';
import type { PublishedImage } from '#shared/published-image.ts';
import { findFiles } from './files.ts';
import { buildWithBuildah } from './publish-buildah.ts';
import {
  type BuiltImage,
  commitLabels,
  type ImageBlob,
  isLoopback,
  type PublishDeps,
  type PublishRequest,
} from './publish-common.ts';

/**
 * PublishImage: makes the commit's image (layers on a base image, or a Dockerfile with buildah),
 * pushes what the registry lacks, stores the manifest by digest and tags it with the commit and
 * the ref. Every failure is an `ImagePublishFailedError` that names the cause and where it looked.
 */
export async function publishImage(request: PublishRequest, deps: PublishDeps): Promise<PublishedImage> {
  const image = request.config.image;
  if (!image) {
    throw new ImagePublishFailedError(
      `stepline.yml has no image section, so PublishImage does not know how to make the image. A minimal one:\n\n${minimalImageExample}\nSee docs/stepline-yml.md#image.`,
    );
  }
  const target = registryClient(deps, deps.settings.registry, deps.settings.registryInsecure, true);
  const scratch = await mkdtemp(join(tmpdir(), 'stepline-publish-'));
  try {
    const built = image.dockerfile
      ? await buildWithBuildah(request, deps, target, scratch)
      : await assembleOnBase(request, deps, target, scratch);
    return await pushImage(request, deps, target, built);
  } catch (error) {
    if (error instanceof ImagePublishFailedError) throw error;
    if (request.signal.aborted) throw error;
    throw new ImagePublishFailedError(describe(error), { cause: error });
  } finally {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** An image ready to push: its blobs, manifest bytes and what to report. */

async function assembleOnBase(
  request: PublishRequest,
  deps: PublishDeps,
  target: RegistryClient,
  scratch: string,
): Promise<BuiltImage> {
  const { config, log, workdir: sourceDir } = request;
  const image = config.image!;
  const settings = deps.settings;
  const platform = parsePlatform(settings.platform);

  let baseRef: ImageReference;
  try {
    baseRef = parseImageReference(image.base!, settings.baseRegistry);
  } catch (error) {
    throw new ImagePublishFailedError(`image.base: ${(error as Error).message}`);
  }
  const baseName = formatImageReference(baseRef);
  const sameRegistry = baseRef.registry === settings.registry;
  const baseClient = sameRegistry
    ? target
    : registryClient(deps, baseRef.registry, isLoopback(baseRef.registry), false);
  const base = await resolveBase(baseClient, baseRef, image.base!, platform);
  log(
    `stepline: base ${image.base} resolved to ${baseName} → ${base.digest} (${formatPlatform(base.config)}, ${base.manifest.layers.length} layer${base.manifest.layers.length === 1 ? '' : 's'})`,
  );

  const globs = image.files ?? config.build.artifacts;
  if (globs.length === 0) {
    throw new ImagePublishFailedError(
      'nothing to put in the image: image.files is not set and build.artifacts is empty; list the files, e.g. image.files: [dist/**, package.json]',
    );
  }
  const workdir = image.workdir ?? '/app';
  const entries = await layerEntries(sourceDir, globs, workdir);
  if (entries.length === 0) {
    throw new ImagePublishFailedError(
      `${image.files ? 'image.files' : 'build.artifacts (the default of image.files)'} ${globs.join(', ')} matched no file in the source and build artifacts (looked in ${sourceDir})`,
    );
  }
  const layerFile = join(scratch, 'layer.tar.gz');
  const layer = await writeLayer(entries, layerFile, { mtime: settings.commitTime });
  log(
    `stepline: layer of ${entries.length} file(s) under ${workdir}: ${layer.size} bytes gzipped (${layer.uncompressedSize} bytes), ${layer.digest}`,
  );

  const labels = { ...(image.labels ?? {}), ...commitLabels(request.input.commit, settings) };
  const imageConfig = appendLayerToConfig(
    base.config,
    {
      diffId: layer.diffId,
      created: settings.commitTime,
      createdBy: `stepline: COPY ${globs.join(' ')} ${workdir}/`,
    },
    {
      workdir,
      ...(image.entrypoint ? { entrypoint: image.entrypoint } : {}),
      ...(image.cmd ? { cmd: image.cmd } : {}),
      ...(image.env ? { env: image.env } : {}),
      ...(image.user ? { user: image.user } : {}),
      ...(image.ports ? { ports: image.ports } : {}),
      labels,
    },
  );
  const configBlob = jsonBlob(
    imageConfig,
    base.mediaType === MediaType.dockerManifest ? MediaType.dockerConfig : MediaType.ociConfig,
  );
  const { mediaType, manifest } = manifestOnBase(
    { mediaType: base.mediaType, manifest: base.manifest },
    configBlob.descriptor,
    layer,
    { 'org.opencontainers.image.base.name': baseName, 'org.opencontainers.image.base.digest': base.digest },
  );
  return {
    blobs: [
      ...base.manifest.layers.map((l) => ({
        descriptor: l,
        source: { repository: baseRef.repository, client: baseClient },
      })),
      { descriptor: configBlob.descriptor, source: configBlob.bytes },
      { descriptor: { digest: layer.digest, size: layer.size }, source: { path: layerFile } },
    ],
    manifest: Buffer.from(JSON.stringify(manifest)),
    mediaType,
    layers: manifest.layers.length,
    platform: formatPlatform(imageConfig),
    mode: 'layers',
  };
}

interface ResolvedBase {
  digest: string;
  mediaType: string;
  manifest: Manifest;
  config: ImageConfig;
}

async function resolveBase(
  client: RegistryClient,
  ref: ImageReference,
  asWritten: string,
  platform: ReturnType<typeof parsePlatform>,
): Promise<ResolvedBase> {
  const name = formatImageReference(ref);
  let fetched: Awaited<ReturnType<RegistryClient['getManifest']>>;
  try {
    fetched = await client.getManifest(ref.repository, ref.reference);
  } catch (error) {
    if (error instanceof RegistryError && error.kind === 'not-found') {
      throw new ImagePublishFailedError(
        `base image "${asWritten}" not found: looked for ${name}; ${await whatRegistryHolds(client, ref)}`,
        { cause: error },
      );
    }
    throw new ImagePublishFailedError(
      `could not read the base image "${asWritten}" (${name}): ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
  let document = parseManifestDocument(fetched.bytes, fetched.mediaType);
  let digest = fetched.digest;
  let mediaType = fetched.mediaType;
  if (document.kind === 'index') {
    const chosen = selectPlatform(document.index, platform);
    if (!chosen) {
      const offered = document.index.manifests
        .map((m) => (m.platform ? formatPlatform(m.platform) : undefined))
        .filter((p): p is string => p !== undefined && p !== 'unknown/unknown');
      throw new ImagePublishFailedError(
        `base image "${asWritten}" (${name}) has no ${formatPlatform(platform)} image; it offers ${offered.join(', ') || 'no platform'}`,
      );
    }
    const single = await client.getManifest(ref.repository, chosen.digest);
    document = parseManifestDocument(single.bytes, single.mediaType);
    digest = single.digest;
    mediaType = single.mediaType;
    if (document.kind !== 'manifest') {
      throw new ImagePublishFailedError(
        `base image ${name}: the index entry ${chosen.digest} is itself an index`,
      );
    }
  }
  const manifest = document.manifest;
  const config = ImageConfig.parse(
    JSON.parse((await client.getBlobBytes(ref.repository, manifest.config.digest)).toString('utf8')),
  );
  if (config.os !== platform.os || config.architecture !== platform.architecture) {
    throw new ImagePublishFailedError(
      `base image "${asWritten}" (${name}) is ${formatPlatform(config)}, not ${formatPlatform(platform)}; use a multi-platform base or one for ${formatPlatform(platform)}`,
    );
  }
  return { digest, mediaType, manifest, config };
}

async function whatRegistryHolds(client: RegistryClient, ref: ImageReference): Promise<string> {
  try {
    const tags = (await client.listTags(ref.repository)).sort();
    if (tags.length === 0) return `${ref.registry} has no repository "${ref.repository}"`;
    const shown = tags.length > 30 ? [...tags.slice(0, 30), `… (${tags.length} tags)`] : tags;
    return `${ref.registry}/${ref.repository} has the tags ${shown.join(', ')}`;
  } catch (error) {
    return `could not list what ${ref.registry}/${ref.repository} holds: ${describe(error)}`;
  }
}

/**
 * Layer entries for the files matching `globs` under `root`, placed at `<workdir>/<path>`. Modes
 * are normalised (0755 when any execute bit is set, else 0644) and owners are root, so only the
 * paths and contents decide the layer, as in git.
 */
export async function layerEntries(
  root: string,
  globs: readonly string[],
  workdir: string,
): Promise<LayerEntry[]> {
  const files = await findFiles(root, globs);
  const entries: LayerEntry[] = [];
  for (const file of files) {
    const host = join(root, file.path);
    const info = await lstat(host);
    const path = posix.join(workdir, file.path);
    if (info.isSymbolicLink()) {
      entries.push({ path, type: 'symlink', mode: 0o777, linkname: await readlink(host) });
    } else if (info.isFile()) {
      entries.push({ path, type: 'file', mode: info.mode & 0o111 ? 0o755 : 0o644, source: host });
    }
  }
  return entries;
}

/**
 * Pushes the blobs the registry lacks (mounting base layers from the base's repository when it
 * is in the same registry, copying them otherwise), then the manifest by digest, then the tags.
 * Tags that already name this digest are left alone; a tag naming another digest is replaced,
 * and a registry with immutable tags refuses that, which is reported.
 */
async function pushImage(
  request: PublishRequest,
  deps: PublishDeps,
  target: RegistryClient,
  built: BuiltImage,
): Promise<PublishedImage> {
  const { log, input } = request;
  const repository = deps.settings.imageRepository;
  let pushed = 0;
  let skipped = 0;
  let bytes = 0;
  await mapLimit(built.blobs, 4, async (blob) => {
    request.signal.throwIfAborted();
    const result = await pushOne(target, repository, blob);
    if (result.uploaded) {
      pushed++;
      bytes += result.bytes;
    } else skipped++;
  });
  log(`stepline: blobs: ${pushed} pushed (${bytes} bytes), ${skipped} skipped (already there or mounted)`);

  const digest = sha256Digest(built.manifest);
  if ((await target.headManifest(repository, digest)) === undefined) {
    await target.putManifest(repository, digest, built.manifest, built.mediaType);
    bytes += built.manifest.length;
  }
  const tags = imageTags(input.commit, input.refType, input.refName);
  for (const tag of tags) {
    const existing = await target.headManifest(repository, tag);
    if (existing?.digest === digest) continue;
    try {
      await target.putManifest(repository, tag, built.manifest, built.mediaType);
      bytes += built.manifest.length;
    } catch (error) {
      if (existing) {
        throw new ImagePublishFailedError(
          `tag "${tag}" of ${deps.settings.registry}/${repository} already names ${existing.digest}, not this build's ${digest}, and could not be moved (immutable tags?): ${describe(error)}`,
          { cause: error },
        );
      }
      throw error;
    }
  }
  const name = `${deps.settings.registry}/${repository}`;
  log(`stepline: image ${name}@${digest}`);
  log(`stepline: tags ${tags.join(', ')}`);
  return {
    repository: name,
    digest,
    uri: `${name}@${digest}`,
    tags,
    bytesPushed: bytes,
    layers: built.layers,
    blobsSkipped: skipped,
    platform: built.platform,
    mode: built.mode,
  };
}

/** Uploads one blob unless the repository has it or can mount it from the base's repository. */
async function pushOne(
  target: RegistryClient,
  repository: string,
  blob: ImageBlob,
): Promise<{ uploaded: boolean; bytes: number }> {
  const { digest } = blob.descriptor;
  const source = blob.source;
  const skipped = { uploaded: false, bytes: 0 };
  if (Buffer.isBuffer(source) || 'path' in source) {
    const result = await target.pushBlob(repository, digest, source);
    return { uploaded: result.pushed, bytes: result.bytes };
  }
  if ((await target.headBlob(repository, digest)) !== undefined) return skipped;
  if (source.client.registry === target.registry && source.repository !== repository) {
    if (await target.mountBlob(repository, digest, source.repository)) return skipped;
  }
  const dir = await mkdtemp(join(tmpdir(), 'stepline-blob-'));
  try {
    const file = join(dir, 'blob');
    const { stream } = await source.client.getBlob(source.repository, digest);
    await pipeline(stream, createWriteStream(file));
    const result = await target.pushBlob(repository, digest, { path: file });
    return { uploaded: result.pushed, bytes: result.bytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function registryClient(
  deps: PublishDeps,
  registry: string,
  insecure: boolean,
  isTarget: boolean,
): RegistryClient {
  const useEcr = isTarget && deps.settings.registryAuth === 'ecr';
  if (useEcr && !deps.ecr)
    throw new ImagePublishFailedError('STEPLINE_REGISTRY_AUTH is "ecr" but no ECR client was given');
  return new RegistryClient({
    registry,
    insecure,
    auth: useEcr ? { kind: 'ecr', ecr: deps.ecr! } : { kind: 'anonymous' },
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.retryDelayMs !== undefined ? { retryDelayMs: deps.retryDelayMs } : {}),
  });
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type { PublishDeps, PublishRequest } from './publish-common.ts';
