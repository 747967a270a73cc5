import { registryImageSource } from '#local/ecs/images.ts';
import type { AccessKey } from '#local/http/sigv4.ts';

/**
 * The key the tests' stand-ins accept and their clients sign with. The runtime generates one per
 * data directory (local/credentials.ts); a test that starts a stand-in by itself passes this one.
 */
export const testCredentials: AccessKey = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Images pulled from a local registry with its token (`registry()` is read at the first pull). */
export function authenticatedImageSource(registry: () => { password: string } | undefined) {
  return registryImageSource({
    auth: () => {
      const found = registry();
      return found ? { kind: 'basic', username: 'AWS', password: found.password } : undefined;
    },
  });
}
