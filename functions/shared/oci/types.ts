import { createHash } from 'node:crypto';
import * as z from 'zod';
import { Digest } from '#shared/published-image.ts';

export { Digest };

/** Media types of the OCI image spec and of Docker's image manifest v2 schema 2. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** What a registry may answer for a manifest reference: single-platform manifests first, then indexes. */
export const manifestMediaTypes: readonly string[] = [
  MediaType.ociManifest,
  MediaType.dockerManifest,
  MediaType.ociIndex,
  MediaType.dockerManifestList,
];

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `os/architecture[/variant]` of an image, as in an index entry. */
export const Platform = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
});
export type Platform = z.infer<typeof Platform>;

/** A content descriptor: what a manifest or index points at. Unknown fields are kept. */
export const Descriptor = z.looseObject({
  mediaType: z.string(),
  digest: Digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  artifactType: z.string().optional(),
  platform: Platform.optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

/** An image manifest (OCI or Docker schema 2): one config and its layers, bottom first. */
export const Manifest = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
  subject: Descriptor.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Manifest = z.infer<typeof Manifest>;

/** An image index (OCI) or manifest list (Docker): one manifest per platform. */
export const Index = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(Descriptor),
  subject: Descriptor.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Index = z.infer<typeof Index>;

export const HistoryEntry = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

/** The runtime settings in an image config (`config` of the OCI image config). */
export const ContainerConfig = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: z.record(z.string(), z.looseObject({})).optional(),
  Env: z.array(z.string()).optional(),
  Entrypoint: z.array(z.string()).nullable().optional(),
  Cmd: z.array(z.string()).nullable().optional(),
  Volumes: z.record(z.string(), z.looseObject({})).nullable().optional(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullable().optional(),
  StopSignal: z.string().optional(),
});
export type ContainerConfig = z.infer<typeof ContainerConfig>;

/** The OCI image config (also Docker's `container.image.v1`). Unknown fields survive a parse. */
export const ImageConfig = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  config: ContainerConfig.optional(),
  rootfs: z.looseObject({ type: z.literal('layers'), diff_ids: z.array(Digest) }),
  history: z.array(HistoryEntry).optional(),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

/** `os/arch[/variant]` → a platform. Throws on anything else. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split('/');
  if (!os || !architecture || rest.length > 0) {
    throw new Error(`expected a platform "os/architecture[/variant]" such as "linux/arm64", got "${text}"`);
  }
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * The index entry for `wanted`. A missing variant matches any variant, and `arm64` matches
 * `arm64/v8` (what Docker Hub's indexes say). Attestation manifests (`unknown/unknown`) never match.
 */
export function selectPlatform(index: Index, wanted: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter(
    (m) =>
      m.platform !== undefined &&
      m.platform.os === wanted.os &&
      m.platform.architecture === wanted.architecture &&
      (wanted.variant === undefined ||
        m.platform.variant === wanted.variant ||
        (m.platform.variant === undefined && wanted.architecture === 'arm64' && wanted.variant === 'v8')),
  );
  return candidates[0];
}

/** Parses manifest bytes as an index or a manifest, by media type (or, lacking it, by shape). */
export function parseManifestDocument(
  bytes: Uint8Array,
  mediaType: string,
): { kind: 'index'; index: Index } | { kind: 'manifest'; manifest: Manifest } {
  const json: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
  const declared =
    mediaType ||
    (typeof json === 'object' && json !== null && 'mediaType' in json ? String(json.mediaType) : '');
  const isIndex =
    isIndexMediaType(declared) ||
    (!isManifestMediaType(declared) && typeof json === 'object' && json !== null && 'manifests' in json);
  return isIndex
    ? { kind: 'index', index: Index.parse(json) }
    : { kind: 'manifest', manifest: Manifest.parse(json) };
}
