import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchSource } from '#functions/fetch-source/fetch-source.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { SourceFetchError } from '#shared/errors.ts';
import { minimalPipelineExample } from '#shared/pipeline-config.ts';
import { archiveUrl, providerArchiver } from '#shared/source-archive.ts';
import { getObjectBytes, type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { makePush, run } from './fixtures.ts';
import { type LoopbackServer, startLoopbackServer } from './loopback-server.ts';
import { makeTarGz, readTarGz } from './tarball.ts';

const sha = 'c0ffee'.padEnd(40, '0');
const token = 'ghp_secret-token-value';

describe('archiveUrl', () => {
  it('addresses a GitHub tarball by owner, name and commit', () => {
    expect(archiveUrl('github', 'acme/service', sha)).toBe(
      `https://api.github.com/repos/acme/service/tarball/${sha}`,
    );
  });

  it('addresses a GitLab archive by the URL-encoded project path', () => {
    expect(archiveUrl('gitlab', 'acme/platform/service', sha)).toBe(
      `https://gitlab.com/api/v4/projects/acme%2Fplatform%2Fservice/repository/archive.tar.gz?sha=${sha}`,
    );
  });

  it('addresses a Gitea or Forgejo archive on the configured server', () => {
    expect(archiveUrl('gitea', 'acme/service', sha, 'https://codeberg.org/')).toBe(
      `https://codeberg.org/api/v1/repos/acme/service/archive/${sha}.tar.gz`,
    );
  });

  it('refuses Gitea without a configured server', () => {
    expect(() => archiveUrl('gitea', 'acme/service', sha)).toThrow(/set "apiUrl"/);
  });

  it('addresses a Bitbucket archive on bitbucket.org', () => {
    expect(archiveUrl('bitbucket', 'acme/service', sha)).toBe(
      `https://bitbucket.org/acme/service/get/${sha}.tar.gz`,
    );
  });
});

describe('providerArchiver', () => {
  let s3: S3rverHandle;
  let provider: LoopbackServer | undefined;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });
  afterAll(async () => {
    await s3?.close();
  });

  const githubTarball = makeTarGz([
    { path: `acme-service-${sha.slice(0, 7)}/` },
    { path: `acme-service-${sha.slice(0, 7)}/stepline.yml`, content: minimalPipelineExample },
    { path: `acme-service-${sha.slice(0, 7)}/src/main.ts`, content: 'main();\n' },
  ]);

  it('downloads the GitHub tarball with the token and stores it without the top-level directory', async () => {
    provider = await startLoopbackServer(() => ({ status: 200, body: githubTarball }));
    const archiver = providerArchiver({
      provider: 'github',
      repository: 'acme/service',
      token,
      apiUrl: provider.url,
    });

    const result = await fetchSource(
      { push: makePush({ after: sha }), run },
      {
        s3: s3.client,
        bucket: s3.bucket,
        taskRoleArnFormat: 'arn:aws:iam::000000000000:role/stepline-local-{kind}',
        archiver,
        logger: { info: () => undefined },
        config: localDefaultConfig('test-secret'),
      },
    );

    const stored = await readTarGz(await getObjectBytes(s3.client, s3.bucket, result.sourceKey));
    expect([...stored.keys()].sort()).toEqual(['src/main.ts', 'stepline.yml']);
    expect(provider.requests).toMatchObject([
      {
        method: 'GET',
        url: `/repos/acme/service/tarball/${sha}`,
        headers: { authorization: `Bearer ${token}` },
      },
    ]);
  });

  it('follows the redirect GitHub answers with', async () => {
    provider = await startLoopbackServer((request) =>
      request.url.startsWith('/repos/')
        ? { status: 302, headers: { location: `/codeload/${sha}` } }
        : { status: 200, body: githubTarball },
    );
    const archiver = providerArchiver({
      provider: 'github',
      repository: 'acme/service',
      apiUrl: provider.url,
    });

    await archiver.fetch(makePush({ after: sha }));

    expect(provider.requests.map((r) => r.url)).toEqual([
      `/repos/acme/service/tarball/${sha}`,
      `/codeload/${sha}`,
    ]);
  });

  it.each([
    [
      'gitlab',
      'acme/platform/service',
      `/api/v4/projects/acme%2Fplatform%2Fservice/repository/archive.tar.gz?sha=${sha}`,
      'authorization',
      `Bearer ${token}`,
    ],
    [
      'gitea',
      'acme/service',
      `/api/v1/repos/acme/service/archive/${sha}.tar.gz`,
      'authorization',
      `token ${token}`,
    ],
    ['bitbucket', 'acme/service', `/acme/service/get/${sha}.tar.gz`, 'authorization', `Bearer ${token}`],
  ] as const)(
    'asks %s for the archive at its documented path with its auth header',
    async (name, repository, path, header, value) => {
      provider = await startLoopbackServer(() => ({ status: 200, body: githubTarball }));
      const archiver = providerArchiver({ provider: name, repository, token, apiUrl: provider.url });

      await archiver.fetch(makePush({ provider: name, fullName: repository, after: sha }));

      expect(provider.requests[0]?.url).toBe(path);
      expect(provider.requests[0]?.headers[header]).toBe(value);
    },
  );

  it('does not send the GitLab token to another host a redirect points at', async () => {
    const elsewhere = await startLoopbackServer(() => ({ status: 200, body: githubTarball }));
    try {
      provider = await startLoopbackServer(() => ({
        status: 302,
        headers: { location: `${elsewhere.url}/archive.tar.gz` },
      }));
      const archiver = providerArchiver({
        provider: 'gitlab',
        repository: 'acme/service',
        token,
        apiUrl: provider.url,
      });

      await archiver.fetch(makePush({ provider: 'gitlab', fullName: 'acme/service', after: sha }));

      expect(provider.requests[0]?.headers.authorization).toBe(`Bearer ${token}`);
      expect(elsewhere.requests).toHaveLength(1);
      expect(JSON.stringify(elsewhere.requests[0]?.headers)).not.toContain(token);
    } finally {
      await elsewhere.close();
    }
  });

  it('fails with the URL and status, never the token, when the provider answers 404', async () => {
    provider = await startLoopbackServer(() => ({ status: 404, body: '{"message":"Not Found"}' }));
    const archiver = providerArchiver({
      provider: 'github',
      repository: 'acme/service',
      token,
      apiUrl: provider.url,
    });

    const error = await archiver.fetch(makePush({ after: sha })).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toBe(
      `GET ${provider.url}/repos/acme/service/tarball/${sha} answered 404 Not Found: {"message":"Not Found"}`,
    );
    expect((error as Error).message).not.toContain(token);
  });

  it('refuses a push for another repository than the one it serves', async () => {
    const archiver = providerArchiver({
      provider: 'github',
      repository: 'acme/service',
      apiUrl: 'http://127.0.0.1:9',
    });

    const error = await archiver
      .fetch(makePush({ fullName: 'mallory/other', after: sha }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
  });
});
