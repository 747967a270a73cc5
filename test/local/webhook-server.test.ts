import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '#functions/webhook/receive-push.ts';
import { localDefaultConfig, type WebhookServer } from '#local/webhook-server.ts';
import type { SecretRef } from '#shared/deployment-config.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { startWorkerWebhook, type WorkerWebhook, webhookStateMachineArn } from '../helpers/webhook-lambda.ts';
import { fixture, fixtureJson, sign } from '../unit/webhook/helpers.ts';

const SECRET = 'local-secret-3e9d';
const NAMED_SECRET = 'named-secret-71c0';

// The webhook as the local runtime runs it: its bundle in a worker behind the API Gateway stand-in,
// its named secrets through the secrets extension stand-in, Step Functions a loopback stand-in.
let bundleDir: string;
let webhook: WorkerWebhook;
let server: WebhookServer;
/** The secrets the extension stand-in was asked for. */
const asked: SecretRef[] = [];

beforeAll(async () => {
  bundleDir = mkdtempSync(join(tmpdir(), 'stepline-webhook-server-'));
  const config = localDefaultConfig(SECRET);
  webhook = await startWorkerWebhook({
    bundleDir,
    config: DeploymentConfig.parse({
      ...config,
      repositories: [
        // A Secrets Manager name, which the webhook reads through the extension.
        { ...config.repositories[0]!, name: 'named/*', webhookSecret: { secretName: 'stepline/hook' } },
        ...config.repositories,
      ],
    }),
    resolveSecret: async (ref) => {
      asked.push(ref);
      return 'secretName' in ref && ref.secretName === 'stepline/hook' ? NAMED_SECRET : '';
    },
    routes: [
      {
        method: 'GET',
        pattern: '/approvals/{id}',
        handle: async (event) => ({
          statusCode: 200,
          headers: { 'content-type': 'text/html' },
          body: `<p>approval ${event.pathParameters?.id} ${event.queryStringParameters?.token}</p>`,
        }),
      },
    ],
  });
  server = webhook.server;
});

beforeEach(() => {
  webhook.started.length = 0;
  asked.length = 0;
});

afterAll(async () => {
  await webhook?.close();
  rmSync(bundleDir, { recursive: true, force: true });
});

describe('local webhook server', () => {
  it('answers a signed GitHub push with 202 and the execution it started', async () => {
    const body = fixture('github-push.json');

    const response = await fetch(`${server.url}/webhooks/github`, {
      method: 'POST',
      headers: sign.github(body, SECRET),
      body,
    });

    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({
      executionArn:
        'arn:aws:states:us-east-1:000000000000:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
      executionName: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
    });
    expect(webhook.started).toEqual([
      expect.objectContaining({
        name: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
        stateMachineArn: webhookStateMachineArn,
      }),
    ]);
  });

  it('reads a Secrets Manager webhook secret through the secrets extension stand-in, as the function does on AWS', async () => {
    const payload = fixtureJson('github-push.json');
    payload.repository = { ...(payload.repository as object), full_name: 'named/hello', name: 'hello' };
    const body = Buffer.from(JSON.stringify(payload));

    // Only the repository whose secret is named verifies this signature: the worker must have read it.
    const response = await fetch(`${server.url}/webhooks/github`, {
      method: 'POST',
      headers: sign.github(body, NAMED_SECRET, 'push', 'delivery-named-secret'),
      body,
    });

    expect(response.status).toBe(202);
    expect(asked).toContainEqual({ secretName: 'stepline/hook' });
    expect(webhook.started.map((e) => e.name)).toEqual(['github-delivery-named-secret']);
  });

  it('passes a body that is not UTF-8 base64-encoded, as API Gateway does, so the signature over its bytes verifies', async () => {
    const payload = fixtureJson('github-push.json');
    payload.head_commit = { ...(payload.head_commit as object), message: 'caf@@LATIN1@@' };
    const [before, after] = JSON.stringify(payload).split('@@LATIN1@@') as [string, string];
    // "café" in Latin-1: the byte 0xE9 alone is not UTF-8, so text would not carry it unchanged.
    const body = Buffer.concat([Buffer.from(before), Buffer.from([0xe9]), Buffer.from(after)]);

    const response = await fetch(`${server.url}/webhooks/github`, {
      method: 'POST',
      headers: sign.github(body, SECRET, 'push', 'delivery-latin1'),
      body,
    });

    expect(response.status).toBe(202);
    expect(webhook.started.map((e) => e.name)).toEqual(['github-delivery-latin1']);
  });

  it('accepts any repository of any provider with the local default configuration', async () => {
    const body = fixture('bitbucket-push.json');

    const response = await fetch(`${server.url}/webhooks/bitbucket`, {
      method: 'POST',
      headers: sign.bitbucket(body, SECRET),
      body,
    });

    expect(response.status).toBe(202);
  });

  it('answers 401 to a delivery signed with another secret', async () => {
    const body = fixture('gitea-push.json');

    const response = await fetch(`${server.url}/webhooks/gitea`, {
      method: 'POST',
      headers: sign.gitea(body, 'nope'),
      body,
    });

    expect(response.status).toBe(401);
    expect(webhook.started).toEqual([]);
  });

  it('answers 404 to an unknown provider', async () => {
    const response = await fetch(`${server.url}/webhooks/svn`, { method: 'POST', body: '{}' });

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ field: 'provider' });
  });

  it('answers 405 to another method on the webhook route', async () => {
    const response = await fetch(`${server.url}/webhooks/github`);

    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('answers 404 to an unknown path', async () => {
    const response = await fetch(`${server.url}/nowhere`);

    expect(response.status).toBe(404);
  });

  it('answers 400 to a path with a malformed percent escape', async () => {
    const response = await fetch(`${server.url}/webhooks/github%`, { method: 'POST', body: '{}' });

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      message: 'malformed path "/webhooks/github%": URI malformed',
    });
    expect(webhook.started).toEqual([]);
  });

  it('answers GET /healthz with 200', async () => {
    const response = await fetch(`${server.url}/healthz`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('serves added routes with their path and query parameters', async () => {
    const response = await fetch(`${server.url}/approvals/abc-123?token=t0k`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html');
    expect(await response.text()).toBe('<p>approval abc-123 t0k</p>');
  });

  it('answers 413 to a declared body over the webhook limit (4 MiB) without reading it', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/webhooks/github`, {
        method: 'POST',
        headers: { 'content-length': String(MAX_BODY_BYTES + 1), 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('{');
    });

    expect(status).toBe(413);
    expect(webhook.started).toEqual([]);
  });

  it('answers 413 to a chunked body that grows past the webhook limit', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/webhooks/github`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent * chunk.length <= MAX_BODY_BYTES + chunk.length && !req.destroyed) {
          sent += 1;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!req.destroyed) req.end();
      };
      pump();
    });

    expect(status).toBe(413);
    expect(webhook.started).toEqual([]);
  });
});
