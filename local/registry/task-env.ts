import { hostPlatform } from './base-images.ts';

/** The local registry as the publish task needs to know it. */
export interface PublisherRegistry {
  /** `http://127.0.0.1:<port>` of the local registry (ECR JSON API and base images). */
  endpoint: string;
  /** `127.0.0.1:<port>` */
  host: string;
  /**
   * An external registry URL (`http://host:port` or `https://host`) that images are pushed to
   * instead of the local registry, anonymously. Base images still come from the local registry.
   */
  external?: string | undefined;
}

/** `host[:port]` and whether to use plain http, from a registry URL (or a bare `host:port`). */
export function registryTarget(url: string): { host: string; insecure: boolean } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new Error(`--registry: expected a registry URL such as http://127.0.0.1:5000, got "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new Error(`--registry: expected an http:// or https:// URL, got "${url}"`);
  if (parsed.pathname !== '/' || parsed.search || parsed.username)
    throw new Error(`--registry: expected a registry URL without path, query or credentials, got "${url}"`);
  return { host: parsed.host, insecure: parsed.protocol === 'http:' };
}

/**
 * The environment of the PublishImage task locally: push to the local registry with ECR auth
 * (its ECR JSON API through `AWS_ENDPOINT_URL_ECR`, as on AWS), or to `external` anonymously;
 * resolve base images (`node:22-slim`) in the local registry's `library/`; build for this
 * machine's platform.
 */
export function publisherTaskEnv(registry: PublisherRegistry): Record<string, string> {
  const base = {
    STEPLINE_BASE_REGISTRY: `${registry.host}/library`,
    STEPLINE_PLATFORM: hostPlatform(),
    AWS_ENDPOINT_URL_ECR: registry.endpoint,
  };
  if (registry.external) {
    const target = registryTarget(registry.external);
    return {
      ...base,
      STEPLINE_REGISTRY: target.host,
      STEPLINE_REGISTRY_AUTH: 'anonymous',
      STEPLINE_REGISTRY_INSECURE: String(target.insecure),
    };
  }
  return {
    ...base,
    STEPLINE_REGISTRY: registry.host,
    STEPLINE_REGISTRY_AUTH: 'ecr',
    STEPLINE_REGISTRY_INSECURE: 'true',
  };
}
