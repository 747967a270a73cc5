import { afterEach, describe, expect, it } from 'vitest';
import { deploymentArchiver } from '#functions/fetch-source/create-handler.ts';
import { DeploymentConfig, type SecretRef } from '#shared/deployment-config.ts';
import { SourceFetchError } from '#shared/errors.ts';
import { makePush } from './fixtures.ts';
import { type LoopbackServer, startLoopbackServer } from './loopback-server.ts';
import { makeTarGz } from './tarball.ts';

const sha = 'd'.repeat(40);

function configFor(apiUrl: string) {
  return DeploymentConfig.parse({
    repositories: [
      {
        provider: 'gitlab',
        name: 'acme/*',
        webhookSecret: { value: 'w' },
        apiUrl,
        providerToken: { secretName: 'gl' },
      },
    ],
  });
}

describe('deploymentArchiver', () => {
  let provider: LoopbackServer | undefined;
  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });

  it("fetches from the configured repository's apiUrl with its resolved token", async () => {
    provider = await startLoopbackServer(() => ({ status: 200, body: makeTarGz([{ path: 'top/' }]) }));
    const asked: SecretRef[] = [];
    const archiver = deploymentArchiver(configFor(provider.url), async (ref) => {
      asked.push(ref);
      return 'glpat-token';
    });

    await archiver.fetch(makePush({ provider: 'gitlab', fullName: 'acme/service', after: sha }));

    expect(asked).toEqual([{ secretName: 'gl' }]);
    expect(provider.requests[0]?.url).toBe(
      `/api/v4/projects/acme%2Fservice/repository/archive.tar.gz?sha=${sha}`,
    );
    expect(provider.requests[0]?.headers.authorization).toBe('Bearer glpat-token');
  });

  it('refuses a repository the deployment configuration does not name', async () => {
    const archiver = deploymentArchiver(configFor('http://127.0.0.1:9'), async () => 'unused');

    const error = await archiver
      .fetch(makePush({ provider: 'gitlab', fullName: 'mallory/service', after: sha }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toBe(
      'gitlab repository "mallory/service" is not in the deployment configuration',
    );
  });

  it('fails as a SourceFetchError naming the repository when the token cannot be read', async () => {
    const archiver = deploymentArchiver(configFor('http://127.0.0.1:9'), async () => {
      throw new Error('secret "gl" not found');
    });

    const error = await archiver
      .fetch(makePush({ provider: 'gitlab', fullName: 'acme/service', after: sha }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toContain('provider token of acme/service could not be read');
  });
});
