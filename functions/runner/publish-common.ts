import type { ECRClient } from '@aws-sdk/client-ecr';
import type { RegistryClient } from '#shared/oci/registry-client.ts';
import type { Descriptor } from '#shared/oci/types.ts';
import { type PipelineConfig, reservedImageLabels } from '#shared/pipeline-config.ts';
import type { PublisherSettings } from './runner-env.ts';
import type { StageInput } from './stage-input.ts';

// What both ways of building an image (layers on a base, or a Dockerfile with buildah) share:
// the request, the dependencies, the built image handed to the push, and the commit's labels.

export interface PublishDeps {
  settings: PublisherSettings;
  /** For `STEPLINE_REGISTRY_AUTH=ecr`. */
  ecr?: Pick<ECRClient, 'send'>;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** Registry retries' first backoff. @default 200 */
  retryDelayMs?: number;
  /** The buildah command. @default "buildah" */
  buildah?: string;
}

export interface PublishRequest {
  input: Pick<StageInput, 'commit' | 'refType' | 'refName' | 'repository'>;
  config: PipelineConfig;
  /** Holds the source with the build artifacts unpacked over it. */
  workdir: string;
  log: (line: string) => void;
  signal: AbortSignal;
}

/** One blob of the image and where its bytes come from when the target registry lacks it. */
export interface ImageBlob {
  descriptor: Pick<Descriptor, 'digest' | 'size'>;
  source: { path: string } | Buffer | { repository: string; client: RegistryClient };
}

export interface BuiltImage {
  blobs: ImageBlob[];
  manifest: Buffer;
  mediaType: string;
  layers: number;
  platform: string;
  mode: 'layers' | 'dockerfile';
}

/** The labels Stepline sets on every image: commit, clone URL (credentials removed), commit time. */
export function commitLabels(commit: string, settings: PublisherSettings): Record<string, string> {
  const labels: Record<string, string> = {
    [reservedImageLabels[0]]: commit,
    [reservedImageLabels[2]]: settings.commitTime.toISOString(),
  };
  const source = withoutCredentials(settings.sourceUrl);
  if (source) labels[reservedImageLabels[1]] = source;
  return labels;
}

function withoutCredentials(url: string): string {
  if (url === '') return '';
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** Loopback registries (`127.0.0.1:5000`, `localhost`) are spoken to over plain http. */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
}
