import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configKey, sourceKey } from '#shared/object-keys.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { newRun, putConfig, putSource, runRef } from './support.ts';

const root = new URL('../../../', import.meta.url).pathname;

let s3: S3rverHandle;
let sfnServer: Server;
let sfnEndpoint: string;
const received: { target: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  s3 = await startS3rver();
  // The Step Functions JSON protocol, as the local runtime's endpoint speaks it.
  sfnServer = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => sfnServer.listen(0, '127.0.0.1', resolve));
  sfnEndpoint = `http://127.0.0.1:${(sfnServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await s3.close();
  await new Promise((resolve) => sfnServer.close(resolve));
});

function runRunner(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  // STEPLINE_RUNNER_BUNDLE=dist/runner.mjs runs these tests against the esbuild bundle instead.
  const bundle = process.env.STEPLINE_RUNNER_BUNDLE;
  const args = bundle ? ['--enable-source-maps', bundle] : ['--import', 'tsx', 'functions/runner/main.ts'];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_SFN: sfnEndpoint,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}

function stageEnv(run: string, token: string): Record<string, string> {
  return {
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
  };
}

describe('the runner process', () => {
  it('runs a stage against the endpoints from the environment and exits 0 after SendTaskSuccess', async () => {
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'a.txt': 'a' });
    await putConfig(s3.client, s3.bucket, run, {
      build: { commands: ['cat a.txt'] },
      test: { commands: ['true'] },
    });

    const { code, output } = await runRunner(stageEnv(run, 'token-success'));

    expect(code, output).toBe(0);
    // The first heartbeat goes out at the start; the report is the call after it.
    const success = received.find(
      (r) => r.body['taskToken'] === 'token-success' && r.target !== 'AWSStepFunctions.SendTaskHeartbeat',
    );
    expect(success?.target, JSON.stringify(success?.body)).toBe('AWSStepFunctions.SendTaskSuccess');
    expect(output).not.toContain('token-success');
  });

  it('reports a bad environment as TaskInputError and exits non-zero', async () => {
    const run = newRun();

    const { code, output } = await runRunner({ ...stageEnv(run, 'token-bad-env'), STEPLINE_STAGE: 'deploy' });

    expect(code).not.toBe(0);
    expect(output).toMatch(/STEPLINE_STAGE: .*"deploy"/);
    const failure = received.find((r) => r.body['taskToken'] === 'token-bad-env');
    expect(failure?.target).toBe('AWSStepFunctions.SendTaskFailure');
    expect(failure?.body['error']).toBe('TaskInputError');
  });
});
