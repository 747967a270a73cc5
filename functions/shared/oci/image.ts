import {
  type ContainerConfig,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type Manifest,
  MediaType,
  sha256Digest,
} from './types.ts';

/** What the layers mode changes in the base image's config. Unset fields keep the base's. */
export interface ConfigChanges {
  workdir: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  user?: string;
  ports?: number[];
  labels?: Record<string, string>;
}

export interface AppendedLayer {
  /** Digest of the uncompressed layer tar (`rootfs.diff_ids`). */
  diffId: string;
  /** The image's `created` and the history entry's: the commit time, for reproducibility. */
  created: Date;
  /** What the history entry says made the layer. */
  createdBy: string;
}

/**
 * The base image's config with one layer appended and `changes` applied, as a Dockerfile's
 * `COPY`, `WORKDIR`, `ENV`, `ENTRYPOINT`, `CMD`, `USER`, `EXPOSE` and `LABEL` would. Setting
 * `entrypoint` without `cmd` clears the base's `Cmd`, as Docker does. Fields this code does not
 * know are kept.
 */
export function appendLayerToConfig(
  base: ImageConfig,
  layer: AppendedLayer,
  changes: ConfigChanges,
): ImageConfig {
  const created = layer.created.toISOString();
  const inherited: ContainerConfig = { ...(base.config ?? {}) };
  const env = mergeEnv(inherited.Env ?? [], changes.env ?? {});
  const ports = { ...(inherited.ExposedPorts ?? {}) };
  for (const port of changes.ports ?? []) ports[`${port}/tcp`] = {};
  const labels = { ...(inherited.Labels ?? {}), ...(changes.labels ?? {}) };
  const config: ContainerConfig = {
    ...inherited,
    ...(env.length > 0 ? { Env: env } : {}),
    WorkingDir: changes.workdir,
    ...(changes.user !== undefined ? { User: changes.user } : {}),
    ...(Object.keys(ports).length > 0 ? { ExposedPorts: ports } : {}),
    ...(Object.keys(labels).length > 0 ? { Labels: labels } : {}),
  };
  if (changes.entrypoint !== undefined) {
    config.Entrypoint = changes.entrypoint;
    if (changes.cmd === undefined) delete config.Cmd;
  }
  if (changes.cmd !== undefined) config.Cmd = changes.cmd;
  const history: HistoryEntry[] = [...(base.history ?? []), { created, created_by: layer.createdBy }];
  return {
    ...base,
    created,
    config,
    rootfs: { ...base.rootfs, type: 'layers', diff_ids: [...base.rootfs.diff_ids, layer.diffId] },
    history,
  };
}

/** `NAME=value` entries of the base with `env` applied: existing names replaced in place, new ones appended. */
export function mergeEnv(base: readonly string[], env: Record<string, string>): string[] {
  const out = [...base];
  for (const [name, value] of Object.entries(env)) {
    const at = out.findIndex((entry) => entry.split('=', 1)[0] === name);
    if (at >= 0) out[at] = `${name}=${value}`;
    else out.push(`${name}=${value}`);
  }
  return out;
}

/** Serialised JSON and its descriptor. */
export interface Blob {
  bytes: Buffer;
  descriptor: Descriptor;
}

export function jsonBlob(value: unknown, mediaType: string): Blob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { bytes, descriptor: { mediaType, digest: sha256Digest(bytes), size: bytes.length } };
}

/**
 * The manifest of the new image in the base's format: a Docker schema 2 base gives a Docker
 * manifest (Docker media types for the config and the new layer), anything else an OCI one.
 */
export function manifestOnBase(
  base: { mediaType: string; manifest: Manifest },
  config: Descriptor,
  layer: { digest: string; size: number },
  annotations: Record<string, string> = {},
): { mediaType: string; manifest: Manifest } {
  const docker = base.mediaType === MediaType.dockerManifest;
  const layers = [
    ...base.manifest.layers,
    {
      mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip,
      digest: layer.digest,
      size: layer.size,
    },
  ];
  const mediaType = docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType,
    config: { ...config, mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig },
    layers,
    ...(!docker && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return { mediaType, manifest };
}

/** A valid tag from any name: characters outside `[A-Za-z0-9_.-]` become `-`, at most 128. */
export function sanitizeTag(name: string): string {
  const tag = name
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return tag === '' ? 'unnamed' : tag;
}

/**
 * The tags of a commit's image: the full commit SHA, and the ref: a git tag as its sanitized
 * name, a branch as `branch-<sanitized name>` (so a registry can keep SHA and release tags
 * immutable and leave `branch-*` mutable).
 */
export function imageTags(commit: string, refType: 'branch' | 'tag', refName: string): string[] {
  const ref = refType === 'tag' ? sanitizeTag(refName) : sanitizeTag(`branch-${refName}`);
  return [...new Set([commit, ref])];
}
