import { describe, expect, it } from 'vitest';
import { parseRunnerEnv } from '#functions/runner/runner-env.ts';
import { TaskInputError } from '#shared/errors.ts';

const good = {
  STEPLINE_TASK_TOKEN: 'secret-token-value',
  STEPLINE_STAGE: 'build',
  STEPLINE_RUN: 'github-123',
  STEPLINE_PROVIDER: 'github',
  STEPLINE_REPOSITORY: 'acme/hello',
  STEPLINE_COMMIT: 'abc1234',
  STEPLINE_REF_TYPE: 'branch',
  STEPLINE_REF_NAME: 'feature/login',
  STEPLINE_SOURCE_KEY: 'runs/github/acme%2Fhello/github-123/source.tar.gz',
  STEPLINE_CONFIG_KEY: 'runs/github/acme%2Fhello/github-123/stepline.json',
  ARTIFACT_BUCKET: 'artifacts',
};

describe('parseRunnerEnv', () => {
  it('reads the stage input and defaults the heartbeat to 20 seconds, the default branch to unknown and the sandbox to auto', () => {
    const settings = parseRunnerEnv(good);

    expect(settings).toEqual({
      input: {
        taskToken: 'secret-token-value',
        stage: 'build',
        run: 'github-123',
        provider: 'github',
        repository: 'acme/hello',
        commit: 'abc1234',
        refType: 'branch',
        refName: 'feature/login',
        defaultBranch: '',
        sourceKey: 'runs/github/acme%2Fhello/github-123/source.tar.gz',
        configKey: 'runs/github/acme%2Fhello/github-123/stepline.json',
      },
      bucket: 'artifacts',
      heartbeatMs: 20_000,
      sandbox: 'auto',
    });
  });

  it('reads STEPLINE_SANDBOX and refuses a mode it does not know, showing the value', () => {
    expect(parseRunnerEnv({ ...good, STEPLINE_SANDBOX: 'user' }).sandbox).toBe('user');
    expect(() => parseRunnerEnv({ ...good, STEPLINE_SANDBOX: 'docker' })).toThrow(
      /STEPLINE_SANDBOX: .*\(got "docker"\)/,
    );
  });

  it('reads the optional workdir and cache limit', () => {
    const settings = parseRunnerEnv({ ...good, STEPLINE_WORKDIR: '/w', STEPLINE_CACHE_MAX_MB: '2' });

    expect(settings).toMatchObject({ workdir: '/w', cacheMaxBytes: 2 * 1024 * 1024 });
  });

  it('reads the default branch from STEPLINE_DEFAULT_BRANCH', () => {
    const settings = parseRunnerEnv({ ...good, STEPLINE_DEFAULT_BRANCH: 'trunk' });

    expect(settings.input.defaultBranch).toBe('trunk');
  });

  it('refuses a ref type other than branch or tag, naming the variable and value', () => {
    expect(() => parseRunnerEnv({ ...good, STEPLINE_REF_TYPE: 'pull' })).toThrow(
      /STEPLINE_REF_TYPE: .*\(got "pull"\)/,
    );
  });

  it('refuses an empty ref name, naming the variable', () => {
    expect(() => parseRunnerEnv({ ...good, STEPLINE_REF_NAME: '' })).toThrow(
      /STEPLINE_REF_NAME: .*\(got ""\)/,
    );
  });

  it('says when the ref variables are not set', () => {
    const { STEPLINE_REF_TYPE: _type, STEPLINE_REF_NAME: _name, ...missing } = good;

    expect(() => parseRunnerEnv(missing)).toThrow(
      /STEPLINE_REF_TYPE: .*\(not set\)\nSTEPLINE_REF_NAME: .*\(not set\)/,
    );
  });

  it('takes an empty default branch as unknown (the provider did not name one)', () => {
    expect(parseRunnerEnv({ ...good, STEPLINE_DEFAULT_BRANCH: '' }).input.defaultBranch).toBe('');
  });

  it('names a bad variable and its value', () => {
    expect(() => parseRunnerEnv({ ...good, STEPLINE_STAGE: 'deploy' })).toThrow(
      /STEPLINE_STAGE: .*\(got "deploy"\)/,
    );
  });

  it('says which required variable is not set', () => {
    const { ARTIFACT_BUCKET: _, ...missing } = good;

    expect(() => parseRunnerEnv(missing)).toThrow(/ARTIFACT_BUCKET: .*\(not set\)/);
  });

  it('throws TaskInputError without showing the task token', () => {
    const attempt = () => parseRunnerEnv({ ...good, STEPLINE_TASK_TOKEN: '', STEPLINE_COMMIT: 'nope' });

    expect(attempt).toThrow(TaskInputError);
    expect(attempt).toThrow(/STEPLINE_TASK_TOKEN: .*\(value hidden\)/);
  });
});

describe('parseRunnerEnv, publish stage', () => {
  const publish = {
    ...good,
    STEPLINE_STAGE: 'publish',
    STEPLINE_IMAGE_REPOSITORY: 'acme/hello',
    STEPLINE_COMMIT_TIME: '2024-05-01T14:00:00+02:00',
    STEPLINE_SOURCE_URL: 'https://github.com/acme/hello.git',
    STEPLINE_REGISTRY: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    STEPLINE_REGISTRY_AUTH: 'ecr',
    STEPLINE_BASE_REGISTRY: 'public.ecr.aws/docker/library',
    STEPLINE_PLATFORM: 'linux/arm64',
  };

  it('reads the registry settings, with plain http off by default', () => {
    expect(parseRunnerEnv(publish).publisher).toEqual({
      imageRepository: 'acme/hello',
      commitTime: new Date('2024-05-01T12:00:00Z'),
      sourceUrl: 'https://github.com/acme/hello.git',
      registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      registryAuth: 'ecr',
      registryInsecure: false,
      baseRegistry: 'public.ecr.aws/docker/library',
      platform: 'linux/arm64',
    });
  });

  it('requires them for the publish stage only, naming each missing variable', () => {
    const { STEPLINE_REGISTRY: _r, STEPLINE_PLATFORM: _p, ...missing } = publish;

    expect(parseRunnerEnv({ ...missing, STEPLINE_STAGE: 'build' }).publisher).toBeUndefined();
    expect(() => parseRunnerEnv(missing)).toThrow(
      /STEPLINE_REGISTRY: .*\(not set\)\nSTEPLINE_PLATFORM: .*\(not set\)/,
    );
  });

  it('refuses an unknown registry auth and a bad commit time, showing the values', () => {
    expect(() =>
      parseRunnerEnv({ ...publish, STEPLINE_REGISTRY_AUTH: 'password', STEPLINE_COMMIT_TIME: 'yesterday' }),
    ).toThrow(/STEPLINE_COMMIT_TIME: .*\(got "yesterday"\)\nSTEPLINE_REGISTRY_AUTH: .*\(got "password"\)/);
  });
});
