import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchSource } from '#functions/fetch-source/fetch-source.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { PipelineConfigError, SourceFetchError, TaskInputError } from '#shared/errors.ts';
import { minimalPipelineExample } from '#shared/pipeline-config.ts';
import { gitArchiver, type SourceArchiver } from '#shared/source-archive.ts';
import { createGitRepo, type GitRepo } from '../../helpers/git-repo.ts';
import { getObjectBytes, type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { makePush, run } from './fixtures.ts';
import { makeTarGz, readTarGz } from './tarball.ts';

const silent = { info: () => undefined };
const taskRoleArnFormat =
  'arn:aws:iam::111122223333:role/stepline/stepline-{kind}-0123abcd-{repository}-eu-west-1';

describe('fetchSource', () => {
  let s3: S3rverHandle;
  let repo: GitRepo;
  let goodSha: string;
  let deps: Parameters<typeof fetchSource>[1];

  beforeAll(async () => {
    s3 = await startS3rver();
    repo = await createGitRepo();
    goodSha = await repo.commit({
      'stepline.yml': 'build:\n  commands: [npm ci]\ntest:\n  commands: [npm test]\n',
      'package.json': '{"name":"service"}\n',
      'src/index.ts': 'export const answer = 42;\n',
    });
    deps = {
      s3: s3.client,
      bucket: s3.bucket,
      taskRoleArnFormat,
      archiver: gitArchiver(),
      logger: silent,
      config: localDefaultConfig('test-secret'),
    };
  });
  afterAll(async () => {
    await repo?.remove();
    await s3?.close();
  });

  const pushOf = (sha: string) => makePush({ cloneUrl: `file://${repo.dir}`, after: sha });

  it('stores the source with the repository root at the root of the tarball', async () => {
    const result = await fetchSource({ push: pushOf(goodSha), run }, deps);

    const stored = await readTarGz(await getObjectBytes(s3.client, s3.bucket, result.sourceKey));
    expect(result.sourceKey).toBe(`runs/github/acme%2Fservice/${run.name}/source.tar.gz`);
    expect(stored.get('package.json')).toBe('{"name":"service"}\n');
    expect(stored.get('src/index.ts')).toBe('export const answer = 42;\n');
    expect([...stored.keys()].every((path) => !path.startsWith('acme-service'))).toBe(true);
  });

  it('stores the validated stepline.yml as JSON and returns its key, not the config itself', async () => {
    const result = await fetchSource({ push: pushOf(goodSha), run }, deps);

    const stored = JSON.parse(
      (await getObjectBytes(s3.client, s3.bucket, result.configKey)).toString('utf8'),
    );
    expect(result.configKey).toBe(`runs/github/acme%2Fservice/${run.name}/stepline.json`);
    expect(stored).toMatchObject({
      build: { commands: ['npm ci'], timeout: 900 },
      test: { commands: ['npm test'] },
    });
    expect(result).toMatchObject({ bucket: s3.bucket, commit: goodSha, files: 3 });
    expect(result).not.toHaveProperty('config');
    expect(result.configBytes).toBe(JSON.stringify(stored).length);
    expect(result.sizeBytes).toBeGreaterThan(0);
  });

  it("stores each repository's run under its own provider and repository prefix", async () => {
    const push = makePush({
      provider: 'gitlab',
      fullName: 'Group/Sub/Web',
      cloneUrl: `file://${repo.dir}`,
      after: goodSha,
    });

    const result = await fetchSource({ push, run }, deps);

    expect(result.sourceKey).toBe(`runs/gitlab/group%2Fsub%2Fweb/${run.name}/source.tar.gz`);
    expect(result.configKey).toBe(`runs/gitlab/group%2Fsub%2Fweb/${run.name}/stepline.json`);
    expect((await getObjectBytes(s3.client, s3.bucket, result.sourceKey)).length).toBeGreaterThan(0);
  });

  it("names the push's runner and publisher task roles from the stack's format", async () => {
    const github = await fetchSource({ push: pushOf(goodSha), run }, deps);
    const gitea = await fetchSource(
      { push: makePush({ provider: 'gitea', cloneUrl: `file://${repo.dir}`, after: goodSha }), run },
      deps,
    );

    expect(github.deployment.runnerTaskRoleArn).toMatch(
      /^arn:aws:iam::111122223333:role\/stepline\/stepline-runner-0123abcd-[0-9a-f]{12}-eu-west-1$/,
    );
    expect(github.deployment.publisherTaskRoleArn).toBe(
      github.deployment.runnerTaskRoleArn.replace('stepline-runner-', 'stepline-publisher-'),
    );
    expect(gitea.deployment.runnerTaskRoleArn).not.toBe(github.deployment.runnerTaskRoleArn);
  });

  it('fails with the minimal example when the commit has no stepline.yml', async () => {
    const sha = await repo.commit({ 'stepline.yml': '' }, 'placeholder');
    await repo.git('rm', '--quiet', 'stepline.yml');
    const withoutConfig = await repo.commit({}, 'drop stepline.yml');

    const error = await fetchSource({ push: pushOf(withoutConfig), run }, deps).catch((e: unknown) => e);

    expect(sha).not.toBe(withoutConfig);
    expect(error).toBeInstanceOf(PipelineConfigError);
    expect((error as Error).message).toContain('has no stepline.yml');
    expect((error as Error).message).toContain(minimalPipelineExample);
  });

  it('lists every problem of an invalid stepline.yml', async () => {
    const sha = await repo.commit({ 'stepline.yml': 'build:\n  commands: [1]\ntest:\n  commands: []\n' });

    const error = await fetchSource({ push: pushOf(sha), run }, deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PipelineConfigError);
    expect((error as Error).message).toContain(
      'build.commands[0]: expected string, received number (line 2)',
    );
    expect((error as Error).message).toContain('test.commands: a stage needs at least one command (line 4)');
  });

  it("fails with git's message when the commit is not in the repository", async () => {
    const error = await fetchSource({ push: pushOf('b'.repeat(40)), run }, deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toContain(`commit ${'b'.repeat(40)} is not in the repository`);
  });

  it('refuses a clone URL that is not on this machine', async () => {
    const push = makePush({ cloneUrl: 'https://github.com/acme/service.git', after: goodSha });

    const error = await fetchSource({ push, run }, deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toContain('neither a file:// URL nor an absolute path');
  });

  it('rejects input that is not a push and a run as a TaskInputError', async () => {
    const error = await fetchSource({ push: { provider: 'github' }, run }, deps).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TaskInputError);
    expect((error as Error).message).toContain('push.deliveryId');
  });

  it('refuses a run name that would escape its S3 prefix', async () => {
    const error = await fetchSource({ push: pushOf(goodSha), run: { ...run, name: '../x' } }, deps).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(TaskInputError);
    expect((error as Error).message).toContain('run.name');
  });

  const archiverOf = (archive: Buffer): SourceArchiver => ({ fetch: async () => Readable.from([archive]) });

  it('refuses an archive with entries outside its top-level directory', async () => {
    const archive = makeTarGz([
      { path: 'acme-service-abc/stepline.yml', content: minimalPipelineExample },
      { path: 'other/file.txt', content: 'x' },
    ]);

    const error = await fetchSource(
      { push: pushOf(goodSha), run },
      { ...deps, archiver: archiverOf(archive) },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toContain(
      '"other/file.txt" outside its top-level directory "acme-service-abc/"',
    );
  });

  it('refuses an archive with a path that climbs out of the repository', async () => {
    const archive = makeTarGz([
      { path: 'top/' },
      { path: 'top/stepline.yml', content: minimalPipelineExample },
      { path: 'top/../../etc/cron.d/x', content: 'x' },
    ]);

    const error = await fetchSource(
      { push: pushOf(goodSha), run },
      { ...deps, archiver: archiverOf(archive) },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toContain('unsafe path');
  });

  it('refuses a source larger than the limit', async () => {
    const archive = makeTarGz([
      { path: 'top/stepline.yml', content: minimalPipelineExample },
      {
        path: 'top/random.bin',
        content: Buffer.from(crypto.getRandomValues(new Uint8Array(60_000))).toString('base64'),
      },
    ]);

    const error = await fetchSource(
      { push: pushOf(goodSha), run: { ...run, name: 'too-big' } },
      { ...deps, archiver: archiverOf(archive), maxSourceBytes: 10_000 },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(SourceFetchError);
    expect((error as Error).message).toContain('larger than');
  });

  it('keeps symbolic links and nested directories', async () => {
    const archive = makeTarGz([
      { path: 'top/' },
      { path: 'top/stepline.yml', content: minimalPipelineExample },
      { path: 'top/docs/' },
      { path: 'top/docs/readme.md', content: '# hi\n' },
      { path: 'top/README.md', type: 'SymbolicLink', linkpath: 'docs/readme.md' },
    ]);

    const result = await fetchSource(
      { push: pushOf(goodSha), run: { ...run, name: 'links' } },
      { ...deps, archiver: archiverOf(archive) },
    );

    const stored = await readTarGz(await getObjectBytes(s3.client, s3.bucket, result.sourceKey));
    expect([...stored.keys()].sort()).toEqual(['README.md', 'docs/', 'docs/readme.md', 'stepline.yml']);
    expect(result.files).toBe(2);
  });
});
