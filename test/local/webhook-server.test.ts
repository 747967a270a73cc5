import { request } from 'node:http';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_BODY_BYTES } from '#functions/webhook/receive-push.ts';
import { localDefaultConfig, startWebhookServer, type WebhookServer } from '#local/webhook-server.ts';
import { fixture, sign } from '../unit/webhook/helpers.ts';

const SECRET = 'local-secret-3e9d';

let server: WebhookServer;
let send: ReturnType<typeof vi.fn>;

beforeEach(async () => {
  send = vi.fn(async (command: { input: { name?: string } }) => ({
    executionArn: `arn:aws:states:local:000000000000:execution:stepline-pipeline:${command.input.name}`,
    startDate: new Date(),
  }));
  server = await startWebhookServer({
    port: 0,
    config: localDefaultConfig(SECRET),
    sfn: { send } as never,
    stateMachineArn: 'arn:aws:states:local:000000000000:stateMachine:stepline-pipeline',
    resolveSecret: async (ref) => ('value' in ref ? ref.value : ''),
    logger: new Logger({ serviceName: 'test', logLevel: 'SILENT' }),
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
});

afterEach(async () => {
  await server.close();
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
        'arn:aws:states:local:000000000000:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
      executionName: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
    });
    expect(send).toHaveBeenCalledTimes(1);
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
    expect(send).not.toHaveBeenCalled();
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
    expect(send).not.toHaveBeenCalled();
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
    expect(send).not.toHaveBeenCalled();
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
    expect(send).not.toHaveBeenCalled();
  });
});
