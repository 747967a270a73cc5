import * as z from 'zod';

/** `sha256:<64 hex>`, the only digest algorithm Stepline writes. */
export const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected a digest "sha256:<64 hex>"');

/**
 * What PublishImage produced: one image per commit, always referred to by digest afterwards.
 * The state machine keeps it at `$.publish.image`; Deploy, RequestApproval and the reports read it.
 */
export const PublishedImage = z.object({
  /** `<registry host>/<repository>`, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/api`. */
  repository: z.string().min(1),
  /** The manifest digest. */
  digest: Digest,
  /** `<repository>@<digest>`: what every later state deploys. Never a tag. */
  uri: z.string().regex(/@sha256:[0-9a-f]{64}$/, 'expected "<repository>@sha256:<64 hex>"'),
  /** Tags pushed with it: the full commit SHA and the sanitized branch or tag name. */
  tags: z.array(z.string()),
  /** Bytes of blobs and manifests actually uploaded (0 when all were already there). */
  bytesPushed: z.number().int().nonnegative(),
  /** Layer count of the image, base layers included. */
  layers: z.number().int().nonnegative(),
  /** Blobs the registry already had, so not uploaded. */
  blobsSkipped: z.number().int().nonnegative().optional(),
  /** `os/architecture`, e.g. `linux/arm64`. */
  platform: z.string().optional(),
  /** How it was built: `layers` (no builder) or `dockerfile` (buildah). */
  mode: z.enum(['layers', 'dockerfile']).optional(),
});
export type PublishedImage = z.infer<typeof PublishedImage>;
