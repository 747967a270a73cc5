import { describe, expect, it } from 'vitest';
import { PublisherEnv } from '#functions/runner/runner-env.ts';
import { hostPlatform } from '#local/registry/base-images.ts';
import { publisherTaskEnv, registryTarget } from '#local/registry/task-env.ts';

const local = { endpoint: 'http://127.0.0.1:40123', host: '127.0.0.1:40123' };

describe('the publish task environment of the local runtime', () => {
  it('pushes to the local registry with ECR auth over plain http and takes base images from its library/', () => {
    expect(publisherTaskEnv(local)).toEqual({
      STEPLINE_REGISTRY: '127.0.0.1:40123',
      STEPLINE_REGISTRY_AUTH: 'ecr',
      STEPLINE_REGISTRY_INSECURE: 'true',
      STEPLINE_BASE_REGISTRY: '127.0.0.1:40123/library',
      STEPLINE_PLATFORM: hostPlatform(),
      AWS_ENDPOINT_URL_ECR: 'http://127.0.0.1:40123',
    });
  });

  it('pushes anonymously to an external registry, insecure only for http://', () => {
    const plain = publisherTaskEnv({ ...local, external: 'http://127.0.0.1:5000' });
    const tls = publisherTaskEnv({ ...local, external: 'https://registry.example.com' });

    expect(plain).toMatchObject({
      STEPLINE_REGISTRY: '127.0.0.1:5000',
      STEPLINE_REGISTRY_AUTH: 'anonymous',
      STEPLINE_REGISTRY_INSECURE: 'true',
      STEPLINE_BASE_REGISTRY: '127.0.0.1:40123/library',
    });
    expect(tls).toMatchObject({
      STEPLINE_REGISTRY: 'registry.example.com',
      STEPLINE_REGISTRY_INSECURE: 'false',
    });
  });

  it("is accepted by the runner's publisher environment schema", () => {
    const parsed = PublisherEnv.safeParse({
      ...publisherTaskEnv(local),
      STEPLINE_IMAGE_REPOSITORY: 'acme/hello-service',
      STEPLINE_COMMIT_TIME: '2024-05-01T12:00:00Z',
      STEPLINE_SOURCE_URL: '',
    });

    expect(parsed.error).toBeUndefined();
  });

  it('refuses a registry URL with a path or another scheme, naming it', () => {
    expect(() => registryTarget('http://127.0.0.1:5000/v2/')).toThrow('"http://127.0.0.1:5000/v2/"');
    expect(() => registryTarget('ftp://registry')).toThrow('"ftp://registry"');
    expect(registryTarget('registry.example.com:5000')).toEqual({
      host: 'registry.example.com:5000',
      insecure: false,
    });
  });
});
