import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectedSignature } from '#functions/webhook/signature.ts';
import { buildGitHubPushPayload, deliverGitHubPush, zeroSha } from '#local/git/push-payload.ts';
import { readStoredExecution } from '#local/sfn/store.ts';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.ts';
import { cliPath, repoRoot } from './cli.ts';

const secret = 'e2e-serve-secret';

interface Serve {
  url: string;
  child: ChildProcess;
  output: () => string;
}

const running: ChildProcess[] = [];

function startServe(dataDir: string): Promise<Serve> {
  const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--data', dataDir], {
    cwd: repoRoot,
    env: { ...process.env, STEPLINE_WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve({ url: match[1]!, child, output: () => output });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`stepline serve exited with ${code}:\n${output}`)));
  });
}

function stopped(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

async function until<T>(probe: () => T | undefined, what: string, tries = 300): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

afterEach(async () => {
  for (const child of running.splice(0)) {
    child.kill('SIGKILL');
    await stopped(child);
  }
});

describe('stepline serve', () => {
  let repo: GitRepo;
  let dataDir: string;
  let sha: string;

  beforeAll(async () => {
    repo = await createGitRepo();
    sha = await repo.commit({
      'stepline.yml': 'build:\n  commands: ["sleep 30"]\ntest:\n  commands: ["true"]\n',
      'README.md': '# slow\n',
    });
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-serve-'));
  });
  afterAll(async () => {
    await repo.remove();
    await rm(dataDir, { recursive: true, force: true });
  });

  const payload = () =>
    buildGitHubPushPayload({
      repoDir: repo.dir,
      fullName: 'acme/slow',
      ref: 'refs/heads/main',
      before: zeroSha,
      after: sha,
    });

  it('answers a signed push with 202 and a redelivery with the same execution', async () => {
    const serve = await startServe(dataDir);
    const body = await payload();

    const first = await deliverGitHubPush(`${serve.url}/webhooks/github`, secret, body, 'delivery-1');
    // Providers redeliver seconds later, never within the webhook's 1 s start-date tolerance
    // (receive-push.ts), inside which a redelivery cannot be told from the start it repeats.
    await new Promise((r) => setTimeout(r, 1500));
    const again = await deliverGitHubPush(`${serve.url}/webhooks/github`, secret, body, 'delivery-1');

    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect((again.body as { executionName: string }).executionName).toBe(
      (first.body as { executionName: string }).executionName,
    );
    expect(again.body).toMatchObject({ alreadyStarted: true });
  });

  it('refuses a push signed with another secret with 401', async () => {
    const serve = await startServe(dataDir);

    const reply = await deliverGitHubPush(`${serve.url}/webhooks/github`, 'not-the-secret', await payload());

    expect(reply.status).toBe(401);
  });

  it('answers a truncated body with 400 and a ping with 200 ignored', async () => {
    const serve = await startServe(dataDir);
    const bytes = Buffer.from(JSON.stringify(await payload())).subarray(0, 200);
    const post = (event: string, body: Buffer) =>
      fetch(`${serve.url}/webhooks/github`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': event,
          'x-github-delivery': `d-${event}`,
          'x-hub-signature-256': expectedSignature('hmac-sha256-prefixed', secret, body),
        },
        body,
      });

    const truncated = await post('push', bytes);
    const ping = await post(
      'ping',
      Buffer.from(JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 })),
    );

    expect(truncated.status).toBe(400);
    expect(ping.status).toBe(200);
    expect(await ping.json()).toHaveProperty('ignored');
  });

  it('refuses a second serve on the same data directory with exit 2, naming the pid of the first', async () => {
    const first = await startServe(dataDir);

    const second = await startServe(dataDir).then(
      () => undefined,
      (error: Error) => error.message,
    );

    expect(second).toMatch(/exited with 2/);
    expect(second).toContain(`in use by another stepline runtime (pid ${first.child.pid})`);
    expect(first.child.exitCode).toBeNull();
  });

  it('marks an execution that was running when serve died as FAILED on the next start', async () => {
    const first = await startServe(dataDir);
    const reply = await deliverGitHubPush(
      `${first.url}/webhooks/github`,
      secret,
      await payload(),
      'delivery-crash',
    );
    const name = (reply.body as { executionName: string }).executionName;
    await until(
      () => (readStoredExecution(dataDir, name)?.status === 'RUNNING' ? true : undefined),
      'the run',
    );

    first.child.kill('SIGKILL');
    await stopped(first.child);
    await startServe(dataDir);

    const record = readStoredExecution(dataDir, name);
    expect(record).toMatchObject({ status: 'FAILED', error: 'Stepline.RuntimeStopped' });
    expect(record?.cause).toMatch(/stopped/);
  });

  it('records executions in flight as stopped when serve is asked to stop', async () => {
    const serve = await startServe(dataDir);
    const reply = await deliverGitHubPush(
      `${serve.url}/webhooks/github`,
      secret,
      await payload(),
      'delivery-stop',
    );
    const name = (reply.body as { executionName: string }).executionName;
    await until(
      () => (readStoredExecution(dataDir, name)?.status === 'RUNNING' ? true : undefined),
      'the run',
    );

    serve.child.kill('SIGTERM');
    await stopped(serve.child);

    expect(readStoredExecution(dataDir, name)?.status).not.toBe('RUNNING');
  });
});
