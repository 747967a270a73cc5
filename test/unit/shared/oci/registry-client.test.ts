import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { parseBearerChallenge, RegistryClient, RegistryError } from '#shared/oci/registry-client.ts';
import { MediaType, sha256Digest } from '#shared/oci/types.ts';
import { freePort } from '../../../helpers/docker-registry.ts';

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse, host: string) => void;

const servers: Server[] = [];
const ecr = mockClient(ECRClient);
afterEach(async () => {
  ecr.reset();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A throwaway registry stand-in on loopback; `log` records `METHOD path?query auth`. */
async function serve(handler: Handler) {
  const log: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    log.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    handler(req, Buffer.concat(chunks), res, host);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { host, log };
}

const noSleep = { sleep: async () => undefined };
const manifest = Buffer.from('{"schemaVersion":2}');

function sendManifest(res: ServerResponse) {
  res.writeHead(200, {
    'content-type': MediaType.ociManifest,
    'docker-content-digest': sha256Digest(manifest),
  });
  res.end(manifest);
}

describe('RegistryClient auth', () => {
  it('answers a Bearer challenge with an anonymous token for the repository scope and reuses it', async () => {
    const { host, log } = await serve((req, _body, res, host) => {
      if (req.url?.startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: 'tok-1', expires_in: 300 }));
      } else if (req.headers.authorization !== 'Bearer tok-1') {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:library/node:pull"`,
        });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      } else sendManifest(res);
    });
    const client = new RegistryClient({ registry: host, insecure: true, ...noSleep });

    await client.getManifest('library/node', '22-slim');
    await client.getManifest('library/node', '20-slim');

    expect(log).toEqual([
      'GET /v2/library/node/manifests/22-slim -',
      'GET /token?service=test-registry&scope=repository%3Alibrary%2Fnode%3Apull -',
      'GET /v2/library/node/manifests/22-slim Bearer tok-1',
      'GET /v2/library/node/manifests/20-slim Bearer tok-1',
    ]);
  });

  it('sends basic credentials to the token service and asks push and mount scopes for an upload', async () => {
    const { host, log } = await serve((req, _body, res, host) => {
      if (req.url?.startsWith('/token')) {
        const basic = `Basic ${Buffer.from('ci:s3cret').toString('base64')}`;
        res.writeHead(req.headers.authorization === basic ? 200 : 401, {
          'content-type': 'application/json',
        });
        res.end(JSON.stringify({ access_token: 'tok-push' }));
      } else if (req.headers.authorization !== 'Bearer tok-push') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="reg"` });
        res.end();
      } else if (req.method === 'HEAD') {
        res.writeHead(404);
        res.end();
      } else {
        res.writeHead(201, { location: '/v2/acme/api/blobs/x' });
        res.end();
      }
    });
    const client = new RegistryClient({
      registry: host,
      insecure: true,
      auth: { kind: 'basic', username: 'ci', password: 's3cret' },
      ...noSleep,
    });

    const result = await client.pushBlob('acme/api', sha256Digest('x'), Buffer.from('x'), {
      mountFrom: 'library/node',
    });

    expect(result.mounted).toBe(true);
    expect(log.find((l) => l.startsWith('GET /token') && l.includes('push'))).toContain(
      'scope=repository%3Aacme%2Fapi%3Apull%2Cpush&scope=repository%3Alibrary%2Fnode%3Apull',
    );
  });

  it('uses ECR GetAuthorizationToken as Basic credentials and asks again only once they expire', async () => {
    let now = Date.parse('2024-05-01T00:00:00Z');
    ecr
      .on(GetAuthorizationTokenCommand)
      .resolvesOnce({
        authorizationData: [
          {
            authorizationToken: Buffer.from('AWS:first').toString('base64'),
            expiresAt: new Date(now + 12 * 3600_000),
          },
        ],
      })
      .resolves({
        authorizationData: [
          {
            authorizationToken: Buffer.from('AWS:second').toString('base64'),
            expiresAt: new Date(now + 24 * 3600_000),
          },
        ],
      });
    const { host, log } = await serve((req, _body, res) => {
      if (!req.headers.authorization?.startsWith('Basic ')) {
        res.writeHead(401);
        res.end();
      } else sendManifest(res);
    });
    const client = new RegistryClient({
      registry: host,
      insecure: true,
      auth: { kind: 'ecr', ecr: new ECRClient({ region: 'eu-west-1' }) },
      now: () => now,
      ...noSleep,
    });

    await client.getManifest('acme/api', 'a');
    await client.getManifest('acme/api', 'b');
    now += 12 * 3600_000;
    await client.getManifest('acme/api', 'c');

    expect(ecr.commandCalls(GetAuthorizationTokenCommand).map((c) => c.args[0].input)).toEqual([{}, {}]);
    expect(log.map((l) => l.split(' ')[3])).toEqual([
      Buffer.from('AWS:first').toString('base64'),
      Buffer.from('AWS:first').toString('base64'),
      Buffer.from('AWS:second').toString('base64'),
    ]);
  });

  it('names the registry and the ECR error when GetAuthorizationToken fails', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' }));
    const client = new RegistryClient({
      registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      auth: { kind: 'ecr', ecr: new ECRClient({ region: 'eu-west-1' }) },
      ...noSleep,
    });

    await expect(client.headBlob('acme/api', sha256Digest('x'))).rejects.toThrow(
      'could not look up blob sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 in repository "acme/api" on registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com: ECR GetAuthorizationToken failed: AccessDeniedException: not allowed',
    );
  });

  it('says the registry refused the credentials, naming registry, repository and what was asked', async () => {
    const { host } = await serve((_req, _body, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    });
    const client = new RegistryClient({ registry: host, insecure: true, ...noSleep });

    const error = await client.getManifest('acme/api', 'v1').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).kind).toBe('unauthorized');
    expect((error as Error).message).toBe(
      `could not read manifest v1 from repository "acme/api" on registry ${host}: 401 Unauthorized, not authorised (check the registry credentials) (UNAUTHORIZED: authentication required)`,
    );
  });

  it('parses a Bearer challenge with quoted and unquoted parameters', () => {
    expect(
      parseBearerChallenge('Bearer realm="https://public.ecr.aws/token/",service=public.ecr.aws,scope="aws"'),
    ).toEqual({
      realm: 'https://public.ecr.aws/token/',
      service: 'public.ecr.aws',
      scope: 'aws',
    });
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
  });
});

describe('RegistryClient retries and uploads', () => {
  it('retries a 503 with growing backoff and then succeeds', async () => {
    let calls = 0;
    const { host } = await serve((_req, _body, res) => {
      calls++;
      if (calls <= 2) {
        res.writeHead(503);
        res.end();
      } else sendManifest(res);
    });
    const delays: number[] = [];
    const client = new RegistryClient({
      registry: host,
      insecure: true,
      retryDelayMs: 100,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });

    const got = await client.getManifest('acme/api', 'v1');

    expect(got.digest).toBe(sha256Digest(manifest));
    expect(delays).toEqual([100, 200]);
  });

  it('gives up after the configured retries with a server error', async () => {
    let calls = 0;
    const { host } = await serve((_req, _body, res) => {
      calls++;
      res.writeHead(500);
      res.end('boom');
    });
    const client = new RegistryClient({ registry: host, insecure: true, retries: 2, ...noSleep });

    const error = (await client.listTags('acme/api').catch((e: unknown) => e)) as RegistryError;

    expect(calls).toBe(3);
    expect(error.kind).toBe('server');
    expect(error.message).toContain(
      `could not list the tags of repository "acme/api" on registry ${host}: 500`,
    );
  });

  it('reports an unreachable registry as such after retrying', async () => {
    const port = await freePort();
    const client = new RegistryClient({
      registry: `127.0.0.1:${port}`,
      insecure: true,
      retries: 1,
      ...noSleep,
    });

    const error = (await client
      .headBlob('acme/api', sha256Digest('x'))
      .catch((e: unknown) => e)) as RegistryError;

    expect(error.kind).toBe('unreachable');
    expect(error.message).toMatch(
      new RegExp(`repository "acme/api" on registry 127.0.0.1:${port}: could not connect: ECONNREFUSED`),
    );
  });

  it('follows absolute and relative Location headers and keeps their query', async () => {
    let uploaded = Buffer.alloc(0);
    const { host, log } = await serve((req, body, res, host) => {
      if (req.method === 'HEAD') res.writeHead(404);
      else if (req.method === 'POST') res.writeHead(202, { location: `http://${host}/uploads/u1?state=a` });
      else if (req.method === 'PATCH') {
        uploaded = Buffer.concat([uploaded, body]);
        res.writeHead(202, { location: '/uploads/u1?state=b', range: `0-${uploaded.length - 1}` });
      } else res.writeHead(201, { location: '/v2/acme/api/blobs/x' });
      res.end();
    });
    const client = new RegistryClient({ registry: host, insecure: true, ...noSleep });
    const bytes = Buffer.from('0123456789');

    await client.pushBlob('acme/api', sha256Digest(bytes), bytes, { chunkSize: 4 });

    expect(uploaded.toString()).toBe('0123456789');
    expect(log.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      `HEAD /v2/acme/api/blobs/${sha256Digest(bytes)}`,
      'POST /v2/acme/api/blobs/uploads/',
      'PATCH /uploads/u1?state=a',
      'PATCH /uploads/u1?state=b',
      'PATCH /uploads/u1?state=b',
      `PUT /uploads/u1?state=b&digest=${encodeURIComponent(sha256Digest(bytes))}`,
    ]);
  });

  it('refuses a manifest the registry stored under another digest', async () => {
    const { host } = await serve((_req, _body, res) => {
      res.writeHead(201, { 'docker-content-digest': sha256Digest('something else') });
      res.end();
    });
    const client = new RegistryClient({ registry: host, insecure: true, ...noSleep });

    await expect(client.putManifest('acme/api', 'v1', manifest, MediaType.ociManifest)).rejects.toThrow(
      `the registry stored it as ${sha256Digest('something else')}`,
    );
  });
});
