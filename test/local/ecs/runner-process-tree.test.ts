import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { chooseSandbox } from '#functions/runner/sandbox.ts';
import { spawnRunner } from '#local/ecs/host-executor.ts';
import { bundleRunner } from '#local/ecs/runner-bundle.ts';
import { configKey, sourceKey } from '#shared/object-keys.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { newRun, putConfig, putSource, runRef } from '../../unit/runner/support.ts';

// The runner as the local ECS starts it (the esbuild bundle, its own process, the task's
// environment), attacked by its own build commands.
const auto = await chooseSandbox('auto');
if (auto.kind === 'none')
  console.warn(`skipping the runner environment test: no sandbox here (${auto.reason})`);

let s3: S3rverHandle;
let sfn: Server;
let sfnEndpoint: string;
let dir: string;
let runnerPath: string;

beforeAll(async () => {
  s3 = await startS3rver();
  sfn = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => sfn.listen(0, '127.0.0.1', resolve));
  sfnEndpoint = `http://127.0.0.1:${(sfn.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'stepline-runner-tree-'));
  runnerPath = await bundleRunner(join(dir, 'bundle'));
});
afterAll(async () => {
  await s3.close();
  await new Promise((resolve) => sfn.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function startRunner(commands: string[], token: string, sandbox = 'auto') {
  const run = newRun();
  await putSource(s3.client, s3.bucket, run, { 'README.md': 'hello\n' });
  await putConfig(s3.client, s3.bucket, run, { build: { commands }, test: { commands: ['true'] } });
  const logPath = join(dir, `${run}.log`);
  let exited!: () => void;
  const done = new Promise<void>((resolve) => {
    exited = resolve;
  });
  const runner = await spawnRunner({
    runnerPath,
    logPath,
    env: runnerEnv(run, token, sandbox),
    onExit: () => exited(),
  });
  return { runner, done, log: () => readFile(logPath, 'utf8').catch(() => '') };
}

function runnerEnv(run: string, token: string, sandbox: string): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ENDPOINT_URL_SFN: sfnEndpoint,
    STEPLINE_TASK_TOKEN: token,
    STEPLINE_STAGE: 'build',
    STEPLINE_RUN: run,
    STEPLINE_PROVIDER: 'github',
    STEPLINE_REPOSITORY: 'acme/hello',
    STEPLINE_COMMIT: 'abc1234',
    STEPLINE_REF_TYPE: 'branch',
    STEPLINE_REF_NAME: 'main',
    STEPLINE_SOURCE_KEY: sourceKey(runRef(run)),
    STEPLINE_CONFIG_KEY: configKey(runRef(run)),
    ARTIFACT_BUCKET: s3.bucket,
    STEPLINE_SANDBOX: sandbox,
  };
}

/** Host pids whose command line contains `text` and that are not zombies. */
function livingWith(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (cmdline.includes(text) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function until(check: () => boolean, what: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what()}`);
}

function uniqueSeconds(): string {
  return `${1000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
}

describe('the runner process', () => {
  it.skipIf(auto.kind === 'none')(
    'keeps the task token and credentials out of a command reading /proc/$PPID/environ and /proc/1/environ',
    async () => {
      const token = `task-token-${randomBytes(8).toString('hex')}`;
      const { done, log } = await startRunner(
        ["for f in /proc/$PPID/environ /proc/1/environ; do tr '\\0' '\\n' < $f; done; echo read-done"],
        token,
      );

      await done;

      const output = await log();
      expect(output).toContain('read-done');
      expect(output).not.toContain(token);
      expect(output).not.toContain(s3.credentials.secretAccessKey);
      expect(output).not.toContain(sfnEndpoint);
    },
  );

  // Every sandbox this machine can make, and none: the fallback is the local ECS's sweep.
  const modes = [
    { sandbox: 'bwrap', available: auto.kind === 'bwrap' },
    { sandbox: 'user', available: process.getuid?.() === 0 },
    { sandbox: 'none', available: true },
  ];
  for (const { sandbox, available } of modes) {
    if (!available)
      console.warn(`skipping the SIGKILL test in the ${sandbox} sandbox: this machine cannot make it`);
    it.skipIf(!available)(
      `takes its commands with it when it is killed with SIGKILL, setsid and background ones included (sandbox ${sandbox})`,
      async () => {
        const background = uniqueSeconds();
        const detached = uniqueSeconds();
        const { runner, done } = await startRunner(
          [
            `sleep ${background} >/dev/null 2>&1 </dev/null & setsid sleep ${detached} >/dev/null 2>&1 </dev/null & echo started; wait`,
          ],
          'token-killed',
          sandbox,
        );
        await until(
          () => livingWith(`sleep ${background}`).length > 0 && livingWith(`sleep ${detached}`).length > 0,
          () => 'the commands to start',
        );

        process.kill(runner.pid!, 'SIGKILL');
        await done;

        await until(
          () =>
            livingWith(`sleep ${background}`).length === 0 && livingWith(`sleep ${detached}`).length === 0,
          () =>
            `the commands of the killed runner to end (still alive: ${[
              ...livingWith(`sleep ${background}`),
              ...livingWith(`sleep ${detached}`),
            ].join(', ')})`,
        );
      },
    );
  }

  it('stops its commands when its parent, the local runtime, is killed with SIGKILL', async () => {
    const background = uniqueSeconds();
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'README.md': 'hello\n' });
    await putConfig(s3.client, s3.bucket, run, {
      build: { commands: [`setsid sleep ${background} >/dev/null 2>&1 </dev/null & wait`] },
      test: { commands: ['true'] },
    });
    // A stand-in for `stepline serve`: a shell whose child is the runner.
    const runtime = spawn('/bin/sh', ['-c', `"${process.execPath}" "${runnerPath}" >/dev/null 2>&1 & wait`], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...runnerEnv(run, 'token-orphaned', 'auto') },
      stdio: 'ignore',
    });
    await until(
      () => livingWith(`sleep ${background}`).length > 0,
      () => 'the command to start',
    );
    const runners = () => livingWith(runnerPath).filter((pid) => pid !== runtime.pid);
    onTestFinished(() => {
      for (const pid of [runtime.pid, ...runners(), ...livingWith(`sleep ${background}`)])
        try {
          if (pid !== undefined) process.kill(pid, 'SIGKILL');
        } catch {
          // already gone: the test passed
        }
    });
    expect(runners()).toHaveLength(1);

    runtime.kill('SIGKILL');

    await until(
      () => livingWith(`sleep ${background}`).length === 0 && runners().length === 0,
      () =>
        `the orphaned runner and its command to end (still alive: ${[
          ...livingWith(`sleep ${background}`),
          ...runners(),
        ].join(', ')})`,
    );
  });
});
