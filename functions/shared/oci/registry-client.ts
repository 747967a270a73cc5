import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import {
  type ECRClient,
  GetAuthorizationTokenCommand,
  type GetAuthorizationTokenCommandOutput,
} from '@aws-sdk/client-ecr';
import { manifestMediaTypes, sha256Digest } from './types.ts';

/**
 * How the client proves who it is. A registry that answers 401 with a `Bearer` challenge
 * (Docker Hub, ECR Public, GHCR) gets a token from the challenge's realm, anonymously or with
 * the basic credentials (ECR's included).
 */
export type RegistryAuth =
  | { kind: 'anonymous' }
  | { kind: 'basic'; username: string; password: string }
  /** Basic credentials from ECR `GetAuthorizationToken`, cached until shortly before they expire. */
  | { kind: 'ecr'; ecr: Pick<ECRClient, 'send'> };

export interface RegistryClientOptions {
  /** `host[:port]`, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com` or `127.0.0.1:5000`. */
  registry: string;
  /** Plain http instead of https (loopback registries). @default false */
  insecure?: boolean;
  /** @default anonymous */
  auth?: RegistryAuth;
  /** Retries after a 5xx, a 429 or a network error, with exponential backoff. @default 4 */
  retries?: number;
  /** First backoff delay; doubles on each retry. @default 200 */
  retryDelayMs?: number;
  fetch?: typeof globalThis.fetch;
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** @default Date.now */
  now?: () => number;
}

export type RegistryErrorKind =
  | 'unauthorized'
  | 'denied'
  | 'not-found'
  | 'unreachable'
  | 'server'
  | 'digest-mismatch'
  | 'protocol';

/** A registry call that failed; the message names the registry, the repository and what was asked. */
export class RegistryError extends Error {
  override name = 'RegistryError';
  readonly kind: RegistryErrorKind;
  readonly status: number | undefined;
  readonly registry: string;
  readonly repository: string | undefined;
  constructor(
    message: string,
    details: { kind: RegistryErrorKind; status?: number; registry: string; repository?: string },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.kind = details.kind;
    this.status = details.status;
    this.registry = details.registry;
    this.repository = details.repository;
  }
}

export type BlobSource = { path: string } | Buffer;

export interface PushBlobOptions {
  /** Upload in PATCH chunks of this many bytes instead of one PUT. Not for ECR, whose chunked uploads are broken. */
  chunkSize?: number;
  /** Another repository of the same registry that holds the blob: ask for a cross-repository mount first. */
  mountFrom?: string;
}

export interface PushBlobResult {
  /** Bytes were uploaded (false: already there, or mounted). */
  pushed: boolean;
  /** The registry mounted it from `mountFrom`. */
  mounted: boolean;
  /** Bytes uploaded. */
  bytes: number;
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

interface Operation {
  /** What was asked, for errors: `push blob sha256:… to`. */
  what: string;
  repository?: string;
  /** Token scopes this request needs, e.g. `repository:acme/api:pull,push`. */
  scopes: string[];
}

interface RequestSpec {
  method: string;
  url: string | URL;
  headers?: Record<string, string>;
  /** Called once per attempt, so a retried upload gets a fresh stream. */
  body?: () => Buffer | Readable;
  /** Statuses that are answers, not errors. */
  ok: readonly number[];
  /** Retry 5xx/429/network errors. @default true */
  retry?: boolean;
}

interface BearerChallenge {
  realm: string;
  service?: string;
  scope?: string;
}

const manifestAccept = manifestMediaTypes.join(', ');

/**
 * A small client for the OCI distribution API (and Docker registry v2) over `fetch`: blobs
 * (HEAD, GET with digest check, monolithic or chunked upload, cross-repository mount), manifests
 * (GET, HEAD, PUT; OCI and Docker, single and multi-platform) and tag lists.
 */
export class RegistryClient {
  readonly registry: string;
  readonly #base: string;
  readonly #auth: RegistryAuth;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => number;
  #basic: { header: string; expiresAt: number } | undefined;
  #challenge: BearerChallenge | undefined;
  readonly #tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(options: RegistryClientOptions) {
    if (!/^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(options.registry)) {
      throw new Error(`invalid registry "${options.registry}": expected host[:port]`);
    }
    this.registry = options.registry;
    this.#base = `${options.insecure ? 'http' : 'https'}://${options.registry}`;
    this.#auth = options.auth ?? { kind: 'anonymous' };
    this.#retries = options.retries ?? 4;
    this.#retryDelayMs = options.retryDelayMs ?? 200;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#now = options.now ?? Date.now;
  }

  /** Checks that the registry answers and accepts the credentials (`GET /v2/`). */
  async ping(): Promise<void> {
    await this.#request(
      { what: 'reach', scopes: [] },
      { method: 'GET', url: `${this.#base}/v2/`, ok: [200] },
    ).then(drain);
  }

  /** The blob's size, or `undefined` when the repository does not have it. */
  async headBlob(repository: string, digest: string): Promise<number | undefined> {
    const response = await this.#request(
      { what: `look up blob ${digest} in`, repository, scopes: [scope(repository, 'pull')] },
      { method: 'HEAD', url: this.#url(repository, `blobs/${digest}`), ok: [200, 404] },
    );
    await drain(response);
    if (response.status === 404) return undefined;
    return Number(response.headers.get('content-length') ?? 0);
  }

  /** The blob's bytes as a stream that fails at its end if they do not match `digest`. */
  async getBlob(repository: string, digest: string): Promise<{ size: number; stream: Readable }> {
    const op = { what: `download blob ${digest} from`, repository, scopes: [scope(repository, 'pull')] };
    const response = await this.#request(op, {
      method: 'GET',
      url: this.#url(repository, `blobs/${digest}`),
      ok: [200],
    });
    if (!response.body) throw this.#error(op, 'protocol', 'the registry sent no body');
    const size = Number(response.headers.get('content-length') ?? -1);
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const verify = new DigestCheck(digest, () =>
      this.#error(op, 'digest-mismatch', 'the bytes received do not match the digest'),
    );
    return { size, stream: body.pipe(verify) };
  }

  /** A small blob (a config) read whole and checked against its digest. */
  async getBlobBytes(repository: string, digest: string, maxBytes = 16 * 1024 * 1024): Promise<Buffer> {
    const { size, stream } = await this.getBlob(repository, digest);
    if (size > maxBytes) {
      stream.destroy();
      throw this.#error(
        { what: `download blob ${digest} from`, repository, scopes: [] },
        'protocol',
        `the blob is ${size} bytes, over the ${maxBytes} this reads into memory`,
      );
    }
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Uploads a blob unless the repository already has it (HEAD first). With `mountFrom`, asks the
   * registry to mount it from that repository; a registry that cannot mount opens an upload
   * instead, which is used. The upload is one PUT, or PATCH chunks with `chunkSize`. A failed
   * upload is started over (bounded by `retries`).
   */
  async pushBlob(
    repository: string,
    digest: string,
    source: BlobSource,
    options: PushBlobOptions = {},
  ): Promise<PushBlobResult> {
    if ((await this.headBlob(repository, digest)) !== undefined) {
      return { pushed: false, mounted: false, bytes: 0 };
    }
    const size = Buffer.isBuffer(source) ? source.length : (await stat(source.path)).size;
    const scopes = [scope(repository, 'pull,push')];
    if (options.mountFrom && options.mountFrom !== repository) scopes.push(scope(options.mountFrom, 'pull'));
    const op: Operation = { what: `push blob ${digest} to`, repository, scopes };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#upload(op, repository, digest, source, size, options);
      } catch (error) {
        const transient =
          error instanceof RegistryError && (error.kind === 'server' || error.kind === 'unreachable');
        if (!transient || attempt >= this.#retries) throw error;
        await this.#sleep(this.#retryDelayMs * 2 ** attempt);
      }
    }
  }

  /**
   * Asks the registry to mount `digest` from `from` into `repository` without uploading it.
   * `true` when mounted (or already there); `false` when the registry would not (the upload it
   * opened instead is cancelled), so the caller uploads the bytes.
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    const op: Operation = {
      what: `mount blob ${digest} from "${from}" into`,
      repository,
      scopes: [scope(repository, 'pull,push'), scope(from, 'pull')],
    };
    const { opened, start } = await this.#openUpload(op, repository, { digest, from });
    if (opened.status === 201) return true;
    const location = opened.headers.get('location');
    if (location) {
      await this.#request(op, {
        method: 'DELETE',
        url: new URL(location, start),
        ok: [200, 202, 204, 404],
        retry: false,
      })
        .then(drain)
        .catch(() => undefined);
    }
    return false;
  }

  /**
   * The `Authorization: Basic` value this client sends (ECR's token, or user and password), for
   * tools that need the same credentials in an auth file; `undefined` when anonymous.
   */
  async basicAuthorization(): Promise<string | undefined> {
    return this.#basicHeader({ what: 'get credentials for', scopes: [] });
  }

  /**
   * Opens an upload session in `repository` (`POST /v2/<name>/blobs/uploads/`), asking to mount
   * `mount.digest` from `mount.from` when given: 201 means mounted, 202 an open session.
   */
  async #openUpload(
    op: Operation,
    repository: string,
    mount?: { digest: string; from: string },
  ): Promise<{ opened: Response; start: URL }> {
    const start = new URL(this.#url(repository, 'blobs/uploads/'));
    if (mount) {
      start.searchParams.set('mount', mount.digest);
      start.searchParams.set('from', mount.from);
    }
    const opened = await this.#request(op, {
      method: 'POST',
      url: start,
      headers: { 'content-length': '0' },
      ok: [201, 202],
    });
    await drain(opened);
    return { opened, start };
  }

  async #upload(
    op: Operation,
    repository: string,
    digest: string,
    source: BlobSource,
    size: number,
    options: PushBlobOptions,
  ): Promise<PushBlobResult> {
    const mountFrom = options.mountFrom && options.mountFrom !== repository ? options.mountFrom : undefined;
    const { opened, start } = await this.#openUpload(
      op,
      repository,
      mountFrom ? { digest, from: mountFrom } : undefined,
    );
    if (opened.status === 201) return { pushed: false, mounted: true, bytes: 0 };
    let location = this.#location(op, opened, start);
    const minChunk = Number(opened.headers.get('oci-chunk-min-length') ?? 0);
    const chunkSize = options.chunkSize ? Math.max(options.chunkSize, minChunk) : undefined;
    if (chunkSize && size > 0) {
      for (let offset = 0; offset < size; offset += chunkSize) {
        const end = Math.min(offset + chunkSize, size);
        const patched = await this.#request(op, {
          method: 'PATCH',
          url: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(end - offset),
            'content-range': `${offset}-${end - 1}`,
          },
          body: () => sliceOf(source, offset, end),
          // ECR answers 201 to a PATCH; the spec says 202.
          ok: [201, 202, 204],
          retry: false,
        });
        await drain(patched);
        location = this.#location(op, patched, location);
      }
      const closed = await this.#request(op, {
        method: 'PUT',
        url: withDigest(location, digest),
        headers: { 'content-length': '0' },
        ok: [201, 204],
        retry: false,
      });
      await drain(closed);
    } else {
      const put = await this.#request(op, {
        method: 'PUT',
        url: withDigest(location, digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: () => sliceOf(source, 0, size),
        ok: [201, 204],
        retry: false,
      });
      await drain(put);
    }
    return { pushed: true, mounted: false, bytes: size };
  }

  /** The manifest (or index) `reference` names: a tag or a digest, checked when it is one. */
  async getManifest(
    repository: string,
    reference: string,
    accept: readonly string[] = manifestMediaTypes,
  ): Promise<FetchedManifest> {
    const op = { what: `read manifest ${reference} from`, repository, scopes: [scope(repository, 'pull')] };
    const response = await this.#request(op, {
      method: 'GET',
      url: this.#url(repository, `manifests/${reference}`),
      headers: { accept: accept === manifestMediaTypes ? manifestAccept : accept.join(', ') },
      ok: [200],
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw this.#error(op, 'digest-mismatch', `the manifest received has digest ${digest}`);
    }
    const mediaType =
      response.headers.get('content-type')?.split(';')[0]?.trim() || mediaTypeInside(bytes) || '';
    return { mediaType, digest, bytes };
  }

  /** The manifest's digest, media type and size without its body, or `undefined` when absent. */
  async headManifest(
    repository: string,
    reference: string,
    accept: readonly string[] = manifestMediaTypes,
  ): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const response = await this.#request(
      { what: `look up manifest ${reference} in`, repository, scopes: [scope(repository, 'pull')] },
      {
        method: 'HEAD',
        url: this.#url(repository, `manifests/${reference}`),
        headers: { accept: accept.join(', ') },
        ok: [200, 404],
      },
    );
    await drain(response);
    if (response.status === 404) return undefined;
    const digest =
      response.headers.get('docker-content-digest') ?? (reference.startsWith('sha256:') ? reference : '');
    return {
      digest,
      mediaType: response.headers.get('content-type')?.split(';')[0]?.trim() ?? '',
      size: Number(response.headers.get('content-length') ?? 0),
    };
  }

  /**
   * Stores a manifest under `reference` (a tag, or its own digest) and returns its digest. The
   * registry's `Docker-Content-Digest`, when sent, must be the digest of these bytes.
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<string> {
    const digest = sha256Digest(bytes);
    const op = {
      what: `push manifest ${reference} to`,
      repository,
      scopes: [scope(repository, 'pull,push')],
    };
    const response = await this.#request(op, {
      method: 'PUT',
      url: this.#url(repository, `manifests/${reference}`),
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
      ok: [201, 200, 204],
    });
    await drain(response);
    const answered = response.headers.get('docker-content-digest');
    if (answered && answered !== digest) {
      throw this.#error(op, 'digest-mismatch', `the registry stored it as ${answered}, not ${digest}`);
    }
    return digest;
  }

  /** Every tag of the repository (following `Link` pages); empty when the repository is unknown. */
  async listTags(repository: string): Promise<string[]> {
    const op = { what: 'list the tags of', repository, scopes: [scope(repository, 'pull')] };
    const tags: string[] = [];
    let url: URL | undefined = new URL(this.#url(repository, 'tags/list'));
    while (url) {
      const response = await this.#request(op, { method: 'GET', url, ok: [200, 404] });
      if (response.status === 404) {
        await drain(response);
        return tags;
      }
      const body = (await response.json().catch(() => ({}))) as { tags?: unknown };
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.headers.get('link') ?? '')?.[1];
      url = next ? new URL(next, url) : undefined;
    }
    return tags;
  }

  #url(repository: string, path: string): string {
    return `${this.#base}/v2/${repository}/${path}`;
  }

  #location(op: Operation, response: Response, base: string | URL): URL {
    const location = response.headers.get('location');
    if (!location)
      throw this.#error(op, 'protocol', `the registry answered ${response.status} without a Location`);
    return new URL(location, base);
  }

  /** One request with auth (Basic/Bearer, challenge answered once) and retries of transient failures. */
  async #request(op: Operation, spec: RequestSpec): Promise<Response> {
    let challenged = false;
    let refreshedBasic = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...spec.headers };
      const authorization = await this.#authorization(op);
      if (authorization) headers.authorization = authorization;
      let response: Response;
      try {
        const body = spec.body?.();
        response = await this.#fetch(spec.url, {
          method: spec.method,
          headers,
          ...(body !== undefined ? { body, duplex: 'half' } : {}),
          redirect: 'follow',
        } as RequestInit);
      } catch (error) {
        if (spec.retry !== false && attempt < this.#retries) {
          await this.#sleep(this.#retryDelayMs * 2 ** attempt);
          continue;
        }
        throw this.#error(
          op,
          'unreachable',
          `could not connect: ${describeFetchError(error)}`,
          undefined,
          error,
        );
      }
      if (spec.ok.includes(response.status)) return response;
      if (response.status === 401) {
        const challenge = parseBearerChallenge(response.headers.get('www-authenticate'));
        if (challenge && !challenged) {
          await drain(response);
          challenged = true;
          this.#challenge = challenge;
          this.#tokens.delete(op.scopes.join(' '));
          await this.#fetchToken(op, challenge);
          continue;
        }
        if (!challenge && this.#auth.kind === 'ecr' && !refreshedBasic) {
          await drain(response);
          refreshedBasic = true;
          this.#basic = undefined;
          continue;
        }
      }
      const transient = response.status >= 500 || response.status === 429;
      if (transient && spec.retry !== false && attempt < this.#retries) {
        await drain(response);
        await this.#sleep(this.#retryDelayMs * 2 ** attempt);
        continue;
      }
      throw await this.#statusError(op, response);
    }
  }

  async #authorization(op: Operation): Promise<string | undefined> {
    if (this.#challenge) {
      const key = op.scopes.join(' ');
      const cached = this.#tokens.get(key);
      if (cached && cached.expiresAt > this.#now()) return `Bearer ${cached.token}`;
      return `Bearer ${await this.#fetchToken(op, this.#challenge)}`;
    }
    return this.#basicHeader(op);
  }

  async #basicHeader(op: Operation): Promise<string | undefined> {
    const auth = this.#auth;
    if (auth.kind === 'anonymous') return undefined;
    if (auth.kind === 'basic') {
      return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    }
    if (this.#basic && this.#basic.expiresAt > this.#now()) return this.#basic.header;
    let out: GetAuthorizationTokenCommandOutput;
    try {
      out = (await auth.ecr.send(new GetAuthorizationTokenCommand({}))) as GetAuthorizationTokenCommandOutput;
    } catch (error) {
      throw this.#error(
        op,
        'unauthorized',
        `ECR GetAuthorizationToken failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
        undefined,
        error,
      );
    }
    const data = out.authorizationData?.[0];
    if (!data?.authorizationToken) {
      throw this.#error(op, 'unauthorized', 'ECR GetAuthorizationToken returned no authorization token');
    }
    // Renewed five minutes early; ECR tokens last 12 hours.
    const expiresAt =
      (data.expiresAt ? new Date(data.expiresAt).getTime() : this.#now() + 3_600_000) - 300_000;
    this.#basic = { header: `Basic ${data.authorizationToken}`, expiresAt };
    return this.#basic.header;
  }

  async #fetchToken(op: Operation, challenge: BearerChallenge): Promise<string> {
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    const scopes = new Set(op.scopes);
    if (challenge.scope && op.scopes.length === 0) scopes.add(challenge.scope);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    const basic = await this.#basicHeader(op);
    if (basic) headers.authorization = basic;
    let response: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        response = await this.#fetch(url, { headers });
      } catch (error) {
        if (attempt < this.#retries) {
          await this.#sleep(this.#retryDelayMs * 2 ** attempt);
          continue;
        }
        throw this.#error(
          op,
          'unreachable',
          `could not reach the token service ${url.origin}${url.pathname}: ${describeFetchError(error)}`,
          undefined,
          error,
        );
      }
      if (response.status >= 500 && attempt < this.#retries) {
        await drain(response);
        await this.#sleep(this.#retryDelayMs * 2 ** attempt);
        continue;
      }
      break;
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw this.#error(
        op,
        response.status === 401 || response.status === 403 ? 'unauthorized' : 'server',
        `the token service ${url.origin}${url.pathname} answered ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`,
        response.status,
      );
    }
    const body = (await response.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token) throw this.#error(op, 'protocol', `the token service ${url.origin} returned no token`);
    // Tokens without expires_in last 60 s (the distribution token spec's default).
    const lifetime = Math.max((body.expires_in ?? 60) - 10, 5) * 1000;
    this.#tokens.set(op.scopes.join(' '), { token, expiresAt: this.#now() + lifetime });
    return token;
  }

  async #statusError(op: Operation, response: Response): Promise<RegistryError> {
    const text = await response.text().catch(() => '');
    const said = describeRegistryErrors(text);
    const status = response.status;
    const kind: RegistryErrorKind =
      status === 401
        ? 'unauthorized'
        : status === 403
          ? 'denied'
          : status === 404
            ? 'not-found'
            : status >= 500 || status === 429
              ? 'server'
              : 'protocol';
    const reason = {
      unauthorized: 'not authorised (check the registry credentials)',
      denied: 'access denied',
      'not-found': 'not found',
    }[kind as 'unauthorized' | 'denied' | 'not-found'];
    return this.#error(
      op,
      kind,
      `${status} ${response.statusText}${reason ? `, ${reason}` : ''}${said ? ` (${said})` : ''}`,
      status,
    );
  }

  #error(
    op: Operation,
    kind: RegistryErrorKind,
    detail: string,
    status?: number,
    cause?: unknown,
  ): RegistryError {
    const where = op.repository
      ? `repository "${op.repository}" on registry ${this.registry}`
      : `registry ${this.registry}`;
    return new RegistryError(
      `could not ${op.what} ${where}: ${detail}`,
      {
        kind,
        registry: this.registry,
        ...(status !== undefined ? { status } : {}),
        ...(op.repository !== undefined ? { repository: op.repository } : {}),
      },
      cause !== undefined ? { cause } : undefined,
    );
  }
}

function scope(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

function sliceOf(source: BlobSource, start: number, end: number): Buffer | Readable {
  if (Buffer.isBuffer(source)) return source.subarray(start, end);
  if (end <= start) return Buffer.alloc(0);
  return createReadStream(source.path, { start, end: end - 1 });
}

async function drain(response: Response): Promise<void> {
  if (response.body && !response.bodyUsed) await response.body.cancel().catch(() => undefined);
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters; `undefined` for other schemes. */
export function parseBearerChallenge(header: string | null): BearerChallenge | undefined {
  if (!header || !/^\s*bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const match of header
    .replace(/^\s*bearer\s+/i, '')
    .matchAll(/([A-Za-z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) {
    params[match[1]!.toLowerCase()] = match[2] ?? match[3] ?? '';
  }
  if (!params.realm) return undefined;
  return {
    realm: params.realm,
    ...(params.service ? { service: params.service } : {}),
    ...(params.scope ? { scope: params.scope } : {}),
  };
}

function describeRegistryErrors(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      return body.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    }
  } catch {
    // Not the registry's JSON error body; show the text itself.
  }
  return text.trim().slice(0, 300);
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: string; message?: string } | undefined;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return cause?.message ? `${error.message} (${cause.message})` : error.message;
}

function mediaTypeInside(bytes: Buffer): string | undefined {
  try {
    const json = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    return typeof json.mediaType === 'string' ? json.mediaType : undefined;
  } catch {
    return undefined;
  }
}

/** Passes bytes through and fails at the end if their sha256 is not `expected`. */
class DigestCheck extends Transform {
  readonly #hash = createHash('sha256');
  constructor(
    readonly expected: string,
    readonly mismatch: () => Error,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    const actual = `sha256:${this.#hash.digest('hex')}`;
    callback(actual === this.expected ? null : this.mismatch());
  }
}
