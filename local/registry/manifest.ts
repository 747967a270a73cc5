import type { z } from 'zod';
import {
  type Descriptor,
  Index,
  isIndexMediaType,
  isManifestMediaType,
  Manifest,
  MediaType,
} from '#shared/oci/types.ts';
import { DistributionError } from './errors.ts';

/** The manifest media types the local registry stores. */
export const acceptedMediaTypes = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
] as const;

/** `sha256:<64 hex>`, the only algorithm the local registry stores. */
export const digestPattern = /^sha256:[a-f0-9]{64}$/;
/** Repository names, from the distribution spec. */
export const namePattern =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; config: Descriptor; layers: Descriptor[] }
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] };

function invalid(message: string, detail?: unknown): DistributionError {
  return new DistributionError('MANIFEST_INVALID', message, detail);
}

/**
 * Parses a pushed manifest: an OCI image manifest or index, or a Docker schema 2 manifest or
 * manifest list. The media type is the request's `Content-Type` (parameters ignored), else the
 * document's own `mediaType`; when both are present they must agree.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw invalid('manifest is not a JSON object');
  const declared = (document as { mediaType?: unknown }).mediaType;
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const fromHeader = header && header !== 'application/json' && header !== 'application/octet-stream';
  if (fromHeader && typeof declared === 'string' && declared !== header)
    throw invalid(`Content-Type "${header}" differs from the manifest's mediaType "${declared}"`);
  const mediaType =
    (fromHeader ? header : undefined) ??
    (typeof declared === 'string' ? declared : undefined) ??
    ('manifests' in document ? MediaType.ociIndex : MediaType.ociManifest);
  if (isIndexMediaType(mediaType)) {
    const parsed = Index.safeParse(document);
    if (!parsed.success) throw invalid(describeIssue(parsed.error), parsed.error.issues);
    return { kind: 'index', mediaType, manifests: parsed.data.manifests };
  }
  if (isManifestMediaType(mediaType)) {
    const parsed = Manifest.safeParse(document);
    if (!parsed.success) throw invalid(describeIssue(parsed.error), parsed.error.issues);
    return { kind: 'manifest', mediaType, config: parsed.data.config, layers: parsed.data.layers };
  }
  throw invalid(
    `unsupported manifest media type "${mediaType}"; the local registry accepts ${acceptedMediaTypes.join(', ')}`,
  );
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `manifest field "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}`;
}
