import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectExists } from '#functions/runner/objects.ts';
import { commandEnv, runStage, TaskReportError } from '#functions/runner/run-stage.ts';
import type { StageInput } from '#functions/runner/stage-input.ts';
import { StageResult } from '#functions/runner/stage-result.ts';
import {
  BuildFailedError,
  ImagePublishFailedError,
  PipelineConfigError,
  SourceFetchError,
  StageTimeoutError,
  TestsFailedError,
} from '#shared/errors.ts';
import { artifactsKey, cacheKey, cacheScope, configKey, logKey } from '#shared/object-keys.ts';
import { getObjectBytes, type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import {
  fakeSfn,
  newRun,
  putConfig,
  putSource,
  runnerDeps,
  runRef,
  stageInput,
  tempWorkdir,
  testRepository,
} from './support.ts';

let s3: S3rverHandle;
beforeAll(async () => {
  s3 = await startS3rver();
});
afterAll(async () => {
  await s3.close();
});

const text = async (key: string) => (await getObjectBytes(s3.client, s3.bucket, key)).toString('utf8');

function successOutput(sent: ReturnType<typeof fakeSfn>) {
  const [success] = sent.named('SendTaskSuccessCommand');
  return StageResult.parse(JSON.parse(String(success?.input['output'])));
}

async function buildRun(
  commands: string[],
  files: Record<string, string> = {},
  extra: { artifacts?: string[]; timeout?: number } = {},
) {
  const run = newRun();
  await putSource(s3.client, s3.bucket, run, { 'README.md': 'hello\n', ...files });
  await putConfig(s3.client, s3.bucket, run, {
    build: { commands, ...extra },
    test: { commands: ['true'] },
  });
  return run;
}

describe('runStage, build', () => {
  it('uploads the artifacts matching build.artifacts and reports their count and size', async () => {
    const run = await buildRun(
      ['mkdir -p dist && printf 12345 > dist/a.js && printf 123 > dist/b.js'],
      {},
      {
        artifacts: ['dist/**'],
      },
    );
    const sfn = fakeSfn();

    await runStage(stageInput(run, 'build'), runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()));

    expect(successOutput(sfn).artifacts).toEqual({ key: artifactsKey(runRef(run)), files: 2, bytes: 8 });
    expect((await getObjectBytes(s3.client, s3.bucket, artifactsKey(runRef(run)))).length).toBeGreaterThan(0);
  });

  it('reports success with each command, its exit code and the log key', async () => {
    const run = await buildRun(['echo one', 'echo two']);
    const sfn = fakeSfn();

    const result = await runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()),
    );

    expect(sfn.named('SendTaskSuccessCommand')).toHaveLength(1);
    expect(successOutput(sfn)).toEqual(result);
    expect(result.commands.map((c) => [c.command, c.exitCode])).toEqual([
      ['echo one', 0],
      ['echo two', 0],
    ]);
    expect(result.logKey).toBe(logKey(runRef(run), 'build'));
  });

  it('writes the commands, their output and exit codes to the log object', async () => {
    const run = await buildRun(['echo hello from the build']);
    const sfn = fakeSfn();

    await runStage(stageInput(run, 'build'), runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()));

    const log = await text(logKey(runRef(run), 'build'));
    expect(log).toMatch(/\$ echo hello from the build\n/);
    expect(log).toMatch(/\] hello from the build\n/);
    expect(log).toMatch(/`echo hello from the build` exited with code 0 after/);
  });

  it('runs the commands in the unpacked source', async () => {
    const run = await buildRun(['cat src/message.txt'], { 'src/message.txt': 'from the repository' });
    const lines: string[] = [];

    await runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, fakeSfn().sfn, await tempWorkdir(), lines),
    );

    expect(lines.some((l) => l.endsWith('] from the repository'))).toBe(true);
  });

  it('fails with BuildFailedError naming the command and carrying the log tail', async () => {
    const run = await buildRun(['echo compiling', 'echo "error TS2322: bad type" >&2; exit 3', 'echo never']);
    const sfn = fakeSfn();

    const outcome = runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()),
    );

    await expect(outcome).rejects.toBeInstanceOf(BuildFailedError);
    const [failure] = sfn.named('SendTaskFailureCommand');
    expect(failure?.input['error']).toBe('BuildFailedError');
    expect(failure?.input['cause']).toMatch(/exited with code 3\n--- last lines of the log ---\n/);
    expect(failure?.input['cause']).toContain('error TS2322: bad type');
    expect(failure?.input['cause']).not.toContain('never');
  });

  it('uploads the log before reporting a failure', async () => {
    const run = await buildRun(['echo before the crash; exit 1']);
    let logAtReport = '';
    const sfn = fakeSfn();
    const reporting = {
      send: async (command: never) => {
        const name = (command as { constructor: { name: string } }).constructor.name;
        if (name === 'SendTaskFailureCommand') logAtReport = await text(logKey(runRef(run), 'build'));
        return sfn.sfn.send(command);
      },
    };

    await expect(
      runStage(stageInput(run, 'build'), runnerDeps(s3.client, s3.bucket, reporting, await tempWorkdir())),
    ).rejects.toThrow();

    expect(logAtReport).toContain('before the crash');
  });

  // Unsandboxed, so that the pids the shell writes are this machine's (test/unit/runner/sandbox.test.ts
  // covers the sandboxes, where they are the PID namespace's own).
  it('kills the whole process group and fails with StageTimeoutError past the stage timeout', async () => {
    const run = await buildRun(
      ['echo $$ > shell.pid; sleep 60 & echo $! > child.pid; wait'],
      {},
      { timeout: 1 },
    );
    const sfn = fakeSfn();
    const workdir = await tempWorkdir();

    const outcome = runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, workdir, [], { sandbox: 'none' }),
    );

    await expect(outcome).rejects.toBeInstanceOf(StageTimeoutError);
    expect(sfn.named('SendTaskFailureCommand')[0]?.input['error']).toBe('StageTimeoutError');
    for (const file of ['shell.pid', 'child.pid']) {
      const pid = Number((await readFile(join(workdir, file), 'utf8')).trim());
      expect(isAlive(pid), `${file} ${pid}`).toBe(false);
    }
  });

  it('sends heartbeats while a command runs', async () => {
    const run = await buildRun(['sleep 0.5']);
    const sfn = fakeSfn();

    await runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir(), [], { heartbeatMs: 20 }),
    );

    const beats = sfn.named('SendTaskHeartbeatCommand');
    expect(beats.length).toBeGreaterThanOrEqual(1);
    expect(beats[0]?.input).toEqual({ taskToken: `token-${run}-build` });
  });

  it('sends its first heartbeat when the stage starts, not one interval later', async () => {
    const run = await buildRun(['true']);
    const sfn = fakeSfn();

    await runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir(), [], { heartbeatMs: 3_600_000 }),
    );

    expect(sfn.sent[0]).toEqual({
      name: 'SendTaskHeartbeatCommand',
      input: { taskToken: `token-${run}-build` },
    });
    expect(sfn.named('SendTaskHeartbeatCommand')).toHaveLength(1);
  });

  it('stops the commands and reports nothing once Step Functions says the task timed out', async () => {
    const run = await buildRun(['sleep 60']);
    const sfn = fakeSfn((command) => {
      if (command.name === 'SendTaskHeartbeatCommand') {
        throw Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' });
      }
    });

    const outcome = runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir(), [], { heartbeatMs: 20 }),
    );

    await expect(outcome).rejects.toBeInstanceOf(TaskReportError);
    expect(sfn.named('SendTaskFailureCommand')).toHaveLength(0);
    expect(sfn.named('SendTaskSuccessCommand')).toHaveLength(0);
  });

  it('rejects with TaskReportError when the result cannot be delivered', async () => {
    const run = await buildRun(['true']);
    const sfn = fakeSfn((command) => {
      if (command.name === 'SendTaskSuccessCommand') throw new Error('connect ECONNREFUSED');
    });

    const outcome = runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()),
    );

    await expect(outcome).rejects.toThrow(TaskReportError);
  });

  it('never gives the task token or AWS credentials to the commands', async () => {
    const run = await buildRun(['env']);
    const lines: string[] = [];
    const secretEnv = { AWS_SECRET_ACCESS_KEY: 'very-secret-key', AWS_SESSION_TOKEN: 'session-secret' };
    Object.assign(process.env, secretEnv, { STEPLINE_TASK_TOKEN: 'the-token' });
    try {
      await runStage(
        stageInput(run, 'build', { taskToken: 'the-token' }),
        runnerDeps(s3.client, s3.bucket, fakeSfn().sfn, await tempWorkdir(), lines),
      );
    } finally {
      for (const name of [...Object.keys(secretEnv), 'STEPLINE_TASK_TOKEN']) delete process.env[name];
    }

    const output = lines.join('\n');
    expect(output).not.toContain('the-token');
    expect(output).not.toContain('secret');
    expect(output).toContain('CI=true');
    expect(output).toContain('STEPLINE_STAGE=build');
  });

  it('fails with SourceFetchError when the source archive is missing', async () => {
    const run = newRun();
    await putConfig(s3.client, s3.bucket, run, {
      build: { commands: ['true'] },
      test: { commands: ['true'] },
    });
    const sfn = fakeSfn();

    const outcome = runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()),
    );

    await expect(outcome).rejects.toBeInstanceOf(SourceFetchError);
    expect(sfn.named('SendTaskFailureCommand')[0]?.input['error']).toBe('SourceFetchError');
  });

  it('fails with PipelineConfigError naming the bad field of stepline.json', async () => {
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'a.txt': 'a' });
    await s3.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: configKey(runRef(run)),
        Body: JSON.stringify({ build: { commands: [] }, test: { commands: ['true'] } }),
      }),
    );

    const outcome = runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, fakeSfn().sfn, await tempWorkdir()),
    );

    await expect(outcome).rejects.toBeInstanceOf(PipelineConfigError);
    await expect(outcome).rejects.toThrow(/build\.commands: a stage needs at least one command/);
  });
});

describe('runStage, cache', () => {
  async function cachedRun(lockfile: string) {
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'package-lock.json': lockfile });
    await putConfig(s3.client, s3.bucket, run, {
      build: {
        commands: [
          'test -f .deps/installed && echo "deps from cache" || (mkdir -p .deps && touch .deps/installed)',
        ],
        cache: { key: ['package-lock.json', 'yarn.lock'], paths: ['.deps'] },
      },
      test: { commands: ['true'] },
    });
    return run;
  }

  it('misses and saves on the first run, then restores on the next run with the same lockfile', async () => {
    const lockfile = `{"lockfileVersion":3,"n":${Math.random()}}`;
    const first = fakeSfn();
    const second = fakeSfn();
    const lines: string[] = [];

    await runStage(
      stageInput(await cachedRun(lockfile), 'build'),
      runnerDeps(s3.client, s3.bucket, first.sfn, await tempWorkdir()),
    );
    await runStage(
      stageInput(await cachedRun(lockfile), 'build'),
      runnerDeps(s3.client, s3.bucket, second.sfn, await tempWorkdir(), lines),
    );

    expect(successOutput(first).cache).toMatchObject({ restored: false, saved: true });
    expect(successOutput(second).cache).toMatchObject({ restored: true, saved: false });
    expect(successOutput(second).cache?.key).toBe(successOutput(first).cache?.key);
    expect(lines.some((l) => l.includes('cache restored from branch main (key'))).toBe(true);
    expect(lines.some((l) => l.endsWith('] deps from cache'))).toBe(true);
  });

  it('misses when the lockfile changed', async () => {
    const first = fakeSfn();
    const second = fakeSfn();

    await runStage(
      stageInput(await cachedRun(`{"a":${Math.random()}}`), 'build'),
      runnerDeps(s3.client, s3.bucket, first.sfn, await tempWorkdir()),
    );
    await runStage(
      stageInput(await cachedRun(`{"b":${Math.random()}}`), 'build'),
      runnerDeps(s3.client, s3.bucket, second.sfn, await tempWorkdir()),
    );

    expect(successOutput(second).cache).toMatchObject({ restored: false, saved: true });
  });

  it('lists a missing key file in the log', async () => {
    const lines: string[] = [];

    await runStage(
      stageInput(await cachedRun('{}'), 'build'),
      runnerDeps(s3.client, s3.bucket, fakeSfn().sfn, await tempWorkdir(), lines),
    );

    expect(lines.some((l) => l.includes('cache key files not found: yarn.lock'))).toBe(true);
  });
});

describe('runStage, cache scopes', () => {
  async function cachedRun(lockfile: string) {
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'package-lock.json': lockfile });
    await putConfig(s3.client, s3.bucket, run, {
      build: {
        commands: ['mkdir -p .deps && touch .deps/installed'],
        cache: { key: ['package-lock.json'], paths: ['.deps'] },
      },
      test: { commands: ['true'] },
    });
    return run;
  }

  async function build(lockfile: string, ref: Pick<StageInput, 'refType' | 'refName'>, lines: string[] = []) {
    const sfn = fakeSfn();
    await runStage(
      stageInput(await cachedRun(lockfile), 'build', ref),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir(), lines),
    );
    const cache = successOutput(sfn).cache;
    if (!cache) throw new Error('the build reported no cache');
    return cache;
  }

  const stored = (scope: string, key: string) =>
    objectExists(s3.client, s3.bucket, cacheKey(testRepository, scope, 'build', key));
  const lockfile = () => `{"lockfileVersion":3,"n":${Math.random()}}`;
  const main = { refType: 'branch', refName: 'main' } as const;
  const feature = { refType: 'branch', refName: 'feature/login' } as const;

  it("restores the default branch's cache on a feature branch's first run", async () => {
    const lock = lockfile();
    const lines: string[] = [];
    await build(lock, main);

    const cache = await build(lock, feature, lines);

    expect(cache).toMatchObject({
      scope: 'branch/feature%2Flogin',
      restored: true,
      restoredFrom: 'branch/main',
    });
    expect(lines.some((l) => l.includes('cache restored from branch main (key'))).toBe(true);
  });

  it("saves a feature branch's cache only in its own scope, unseen by the default branch's next run", async () => {
    const lock = lockfile();

    const featureCache = await build(lock, feature);
    const mainCache = await build(lock, main);

    expect(featureCache).toMatchObject({ scope: 'branch/feature%2Flogin', restored: false, saved: true });
    expect(await stored('branch/feature%2Flogin', featureCache.key)).toBe(true);
    expect(mainCache).toMatchObject({ scope: 'branch/main', restored: false, saved: true });
    expect(mainCache.restoredFrom).toBeUndefined();
  });

  it("restores a feature branch's own cache before the default branch's", async () => {
    const lock = lockfile();
    await build(lock, feature);
    await build(lock, main);

    const cache = await build(lock, feature);

    expect(cache).toMatchObject({ restored: true, restoredFrom: 'branch/feature%2Flogin', saved: false });
  });

  it('saves into its own scope after restoring from the default branch', async () => {
    const lock = lockfile();
    const mainCache = await build(lock, main);

    const featureCache = await build(lock, feature);

    expect(featureCache).toMatchObject({ restoredFrom: 'branch/main', saved: true });
    expect(await stored('branch/feature%2Flogin', mainCache.key)).toBe(true);
  });

  it('gives a tag its own scope, apart from a branch of the same name', async () => {
    const lock = lockfile();
    const tag = { refType: 'tag', refName: 'v1.2.0' } as const;

    const tagCache = await build(lock, tag);
    const branchCache = await build(lock, { refType: 'branch', refName: 'v1.2.0' });

    expect(tagCache).toMatchObject({ scope: 'tag/v1.2.0', restored: false, saved: true });
    expect(await stored('tag/v1.2.0', tagCache.key)).toBe(true);
    expect(branchCache).toMatchObject({ scope: 'branch/v1.2.0', restored: false });
  });

  it('falls back to the branch named by defaultBranch', async () => {
    const lock = lockfile();
    const trunk = fakeSfn();
    await build(lock, { refType: 'branch', refName: 'trunk' });

    await runStage(
      stageInput(await cachedRun(lock), 'build', { ...feature, defaultBranch: 'trunk' }),
      runnerDeps(s3.client, s3.bucket, trunk.sfn, await tempWorkdir()),
    );

    expect(successOutput(trunk).cache).toMatchObject({ restoredFrom: 'branch/trunk' });
  });

  it('restores only its own scope when the provider named no default branch', async () => {
    const lock = lockfile();
    const unnamed = fakeSfn();
    await build(lock, main);

    await runStage(
      stageInput(await cachedRun(lock), 'build', { ...feature, defaultBranch: '' }),
      runnerDeps(s3.client, s3.bucket, unnamed.sfn, await tempWorkdir()),
    );

    expect(successOutput(unnamed).cache).toMatchObject({ restored: false, saved: true });
  });
});

describe('cacheScope', () => {
  it('keeps a plain branch name readable', () => {
    expect(cacheScope('branch', 'main')).toBe('branch/main');
  });

  it('encodes a slash so that the name stays one key segment', () => {
    expect(cacheScope('branch', 'feature/login')).toBe('branch/feature%2Flogin');
  });

  it('never yields a . or .. segment', () => {
    expect(cacheScope('tag', '..')).toBe('tag/%2E.');
    expect(cacheScope('branch', '.')).toBe('branch/%2E');
  });
});

describe('runStage, test', () => {
  const failingReport = `<testsuites><testsuite name="greeting"><testcase name="greets a name"/>
    <testcase name="greets the world"><failure message="expected 'Hello, world!'"/></testcase></testsuite></testsuites>`;

  async function testRun(commands: string[], reports: string[], files: Record<string, string>) {
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'README.md': 'x', ...files });
    await putConfig(s3.client, s3.bucket, run, {
      build: { commands: ['true'] },
      test: { commands, reports },
    });
    return run;
  }

  it('fails with TestsFailedError naming the failing test from the JUnit report', async () => {
    const run = await testRun(['mkdir -p reports && cp fixture.xml reports/junit.xml'], ['reports/*.xml'], {
      'fixture.xml': failingReport,
    });
    const sfn = fakeSfn();

    const outcome = runStage(
      stageInput(run, 'test'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()),
    );

    await expect(outcome).rejects.toBeInstanceOf(TestsFailedError);
    const [failure] = sfn.named('SendTaskFailureCommand');
    expect(failure?.input['error']).toBe('TestsFailedError');
    expect(failure?.input['cause']).toContain(
      "1 of 2 tests failed:\n  ✖ greeting › greets the world: expected 'Hello, world!'",
    );
  });

  it('fails with TestsFailedError when the test command exits non-zero without a report', async () => {
    const run = await testRun(['echo "1 test failed"; exit 1'], [], {});

    const outcome = runStage(
      stageInput(run, 'test'),
      runnerDeps(s3.client, s3.bucket, fakeSfn().sfn, await tempWorkdir()),
    );

    await expect(outcome).rejects.toThrow(/test command `echo "1 test failed"; exit 1` exited with code 1/);
  });

  it('reports the counts of passing reports', async () => {
    const run = await testRun(['true'], ['out/**/*.xml'], {
      'out/a/junit.xml':
        '<testsuite name="a"><testcase name="x"/><testcase name="y"><skipped/></testcase></testsuite>',
    });
    const sfn = fakeSfn();

    await runStage(stageInput(run, 'test'), runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()));

    expect(successOutput(sfn).tests).toEqual({
      total: 2,
      passed: 1,
      failed: 0,
      errors: 0,
      skipped: 1,
      reports: 1,
      failures: [],
    });
  });

  it('notes that no report matched without failing passing commands', async () => {
    const run = await testRun(['true'], ['reports/junit.xml'], {});
    const sfn = fakeSfn();

    await runStage(stageInput(run, 'test'), runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()));

    expect(successOutput(sfn).tests).toMatchObject({
      total: 0,
      reports: 0,
      note: 'no report matched reports/junit.xml',
    });
  });

  it('unpacks the build artifacts before running the tests', async () => {
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'README.md': 'x' });
    await putConfig(s3.client, s3.bucket, run, {
      build: { commands: ['mkdir -p dist && echo built > dist/out.txt'], artifacts: ['dist/**'] },
      test: { commands: ['grep built dist/out.txt'] },
    });
    await runStage(
      stageInput(run, 'build'),
      runnerDeps(s3.client, s3.bucket, fakeSfn().sfn, await tempWorkdir()),
    );
    const sfn = fakeSfn();

    await runStage(stageInput(run, 'test'), runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir()));

    expect(sfn.named('SendTaskSuccessCommand')).toHaveLength(1);
  });
});

describe('runStage, publish', () => {
  it('fails with ImagePublishFailedError showing an example when stepline.yml has no image section', async () => {
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'README.md': 'x\n' });
    await putConfig(s3.client, s3.bucket, run, {
      build: { commands: ['true'] },
      test: { commands: ['true'] },
    });
    const sfn = fakeSfn();
    const publisher = {
      settings: {
        imageRepository: 'acme/hello',
        commitTime: new Date('2024-05-01T12:00:00Z'),
        sourceUrl: '',
        registry: '127.0.0.1:9',
        registryAuth: 'anonymous',
        registryInsecure: true,
        baseRegistry: '127.0.0.1:9/library',
        platform: 'linux/amd64',
      },
    } as const;

    const outcome = runStage(
      stageInput(run, 'publish'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir(), [], { publisher }),
    );

    await expect(outcome).rejects.toBeInstanceOf(ImagePublishFailedError);
    expect(sfn.named('SendTaskFailureCommand')[0]?.input['error']).toBe('ImagePublishFailedError');
    expect(String(sfn.named('SendTaskFailureCommand')[0]?.input['cause'])).toContain(
      'image:\n  base: node:22-slim',
    );
    expect(sfn.named('SendTaskSuccessCommand')).toHaveLength(0);
  });
});

describe('commandEnv', () => {
  const input = { stage: 'test', commit: 'abc1234', run: 'r', repository: 'acme/x' } as const;

  it('lets the stage env override the runner environment but not CI or the run identity', () => {
    const env = commandEnv({ PATH: '/bin', NODE_ENV: 'x' }, { NODE_ENV: 'test', CI: 'false' }, input);

    expect(env).toMatchObject({ PATH: '/bin', NODE_ENV: 'test', CI: 'true', STEPLINE_STAGE: 'test' });
  });

  it('drops the container credentials endpoint but keeps the region', () => {
    const env = commandEnv(
      { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/x', AWS_REGION: 'eu-west-1' },
      {},
      input,
    );

    expect(env['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']).toBeUndefined();
    expect(env['AWS_REGION']).toBe('eu-west-1');
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0 until its parent reaps it; it runs nothing.
  return !/^\d+ \(.*\) Z/.test(readProcStat(pid));
}

function readProcStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}
