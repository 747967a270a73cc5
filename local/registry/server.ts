import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { serveAwsJson } from '#local/http/aws-json.ts';
import { listen } from '#local/http/listen.ts';
import { BodyTooLargeError, readBody } from '#local/http/read-body.ts';
import type { AccessKey } from '#local/http/sigv4.ts';
import { authRealm, isAuthorized, registryPassword } from './auth.ts';
import { type BaseImages, startBaseImages } from './base-images.ts';
import { dispatchEcr, ecrTargetPrefix } from './ecr-api.ts';
import { DistributionError, EcrApiError } from './errors.ts';
import { tagPattern } from './manifest.ts';
import {
  byCodePoint,
  checkDigest,
  checkRepositoryName,
  maxManifestBytes,
  RegistryStorage,
} from './storage.ts';

export interface LocalRegistryOptions {
  /** Where the OCI image layouts live (the runtime uses `<data>/registry`). */
  dir: string;
  /** @default 127.0.0.1 */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  /**
   * Listen on the port this directory's registry used last time when it is free (image URIs
   * recorded by earlier runs name it), else on `port`. The port is kept in `<dir>/.port`.
   * @default false
   */
  reusePort?: boolean;
  /**
   * Offer `library/node` built from this machine's Node (built in the background, once per node
   * version). @default true
   */
  baseImages?: boolean;
  /** Reports a base-image build failure (the registry keeps serving everything else). */
  onBaseImageError?: (error: Error) => void;
  /** The only access key whose SigV4 signatures the ECR JSON API accepts (the data directory's). */
  credentials: AccessKey;
}

export interface LocalRegistry {
  /** `http://127.0.0.1:<port>`: the distribution API under /v2/ and the ECR JSON API at /. */
  endpoint: string;
  /** `127.0.0.1:<port>`, how image references name this registry. */
  host: string;
  /** The storage directory. */
  dir: string;
  /** The push password (user `AWS`), the one ECR's GetAuthorizationToken hands out. */
  password: string;
  /** Resolves when the base images are built (or failed to build; never rejects). */
  baseImagesReady: Promise<void>;
  close(): Promise<void>;
}

const apiVersionHeader = { 'docker-distribution-api-version': 'registry/2.0' };
const maxJsonBody = 1024 * 1024;

const routes = {
  tags: /^\/v2\/(.+)\/tags\/list$/,
  manifest: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
  uploads: /^\/v2\/(.+)\/blobs\/uploads\/?$/,
  upload: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
  blob: /^\/v2\/(.+)\/blobs\/([^/]+)$/,
};

/** The repository a distribution API path names, by the routes `handleDistribution` tries, in its order. */
function repositoryOf(path: string): string | undefined {
  for (const route of [routes.tags, routes.manifest, routes.uploads, routes.upload, routes.blob]) {
    const name = route.exec(path)?.[1];
    if (name) return name;
  }
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(req: IncomingMessage, res: ServerResponse, error: DistributionError) {
  const headers: Record<string, string> = {};
  if (error.status === 401) headers['www-authenticate'] = `Basic realm="${authRealm}"`;
  // A request body nobody read would otherwise be drained first.
  if (!req.complete) headers.connection = 'close';
  const body = {
    errors: [
      {
        code: error.code,
        message: error.message,
        ...(error.detail === undefined ? {} : { detail: error.detail }),
      },
    ],
  };
  if (req.method === 'HEAD') {
    res.writeHead(error.status, { ...headers, 'content-type': 'application/json' });
    res.end();
    return;
  }
  sendJson(res, error.status, body, headers);
}

function contentLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  const n = Number(header);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** `Content-Range: <start>-<end>` (the spec's form; `bytes ` / `bytes=` prefixes tolerated). */
function parseContentRange(header: string | undefined): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)$/.exec(header.trim());
  if (!match)
    throw new DistributionError(
      'BLOB_UPLOAD_INVALID',
      `invalid Content-Range "${header}": expected <start>-<end>`,
    );
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start)
    throw new DistributionError('BLOB_UPLOAD_INVALID', `invalid Content-Range "${header}": end before start`);
  return { start, end };
}

/** A single `Range: bytes=…` of a blob of `size` bytes; undefined for the whole blob. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | 'unsatisfiable' {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** `Range: 0-<last byte>` of an upload, as the spec's PATCH and GET answers carry it. */
function uploadRange(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

function pageOf(items: string[], url: URL, path: string): { page: string[]; link?: string } {
  const last = url.searchParams.get('last');
  const nParam = url.searchParams.get('n');
  let list = last ? items.filter((item) => item > last) : items;
  if (nParam === null) return { page: list };
  const n = Number(nParam);
  if (!Number.isInteger(n) || n < 0) return { page: list };
  if (n === 0) return { page: [] };
  const more = list.length > n;
  list = list.slice(0, n);
  const tail = list.at(-1);
  return more && tail
    ? { page: list, link: `<${path}?n=${n}&last=${encodeURIComponent(tail)}>; rel="next"` }
    : { page: list };
}

class RegistryServer {
  constructor(
    private readonly storage: RegistryStorage,
    private readonly password: string,
    private readonly base: BaseImages | undefined,
    private endpoint: string,
    private readonly credentials: AccessKey,
  ) {}

  setEndpoint(endpoint: string) {
    this.endpoint = endpoint;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://registry.invalid');
      let path: string;
      try {
        path = decodeURIComponent(url.pathname);
      } catch {
        throw new DistributionError('NAME_INVALID', `malformed percent escape in ${url.pathname}`);
      }
      if (!path.startsWith('/v2')) {
        await this.handleEcr(req, res, path);
        return;
      }
      for (const [name, value] of Object.entries(apiVersionHeader)) res.setHeader(name, value);
      await this.handleDistribution(req, res, url, path);
    } catch (error) {
      if (res.headersSent) {
        res.destroy(error as Error);
        return;
      }
      if (error instanceof DistributionError) {
        sendError(req, res, error);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message }] }));
    }
  }

  private async handleEcr(req: IncomingMessage, res: ServerResponse, path: string) {
    const target = req.headers['x-amz-target'];
    if (
      req.method !== 'POST' ||
      path !== '/' ||
      typeof target !== 'string' ||
      !target.startsWith(ecrTargetPrefix)
    ) {
      const text = JSON.stringify({
        __type: 'UnknownOperationException',
        message: `this is the local registry: the distribution API is under /v2/, the ECR JSON API is POST / with X-Amz-Target: ${ecrTargetPrefix}<Operation>`,
      });
      res.writeHead(404, {
        'content-type': 'application/x-amz-json-1.1',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
      return;
    }
    await serveAwsJson(
      {
        name: 'the local registry (ECR)',
        targetPrefix: ecrTargetPrefix,
        jsonVersion: '1.1',
        maxBodyBytes: maxJsonBody,
        dispatch: (operation, body) =>
          dispatchEcr(
            {
              storage: this.storage,
              password: this.password,
              endpoint: this.endpoint,
              beforeRead: (name) => this.beforeRead(name),
            },
            operation,
            body,
          ),
        isClientError: (error): error is Error => error instanceof EcrApiError,
        serverErrorType: 'ServerException',
        credentials: this.credentials,
      },
      req,
      res,
    );
  }

  /** Waits for a base image build before reading one of its repositories. */
  private async beforeRead(name: string): Promise<void> {
    await this.base?.ready(name);
  }

  private requireAuth(req: IncomingMessage) {
    if (!isAuthorized(req.headers.authorization, this.password))
      throw new DistributionError(
        'UNAUTHORIZED',
        req.headers.authorization === undefined
          ? 'the local registry needs HTTP Basic credentials AWS:<password> (all but library/ pulls): ECR GetAuthorizationToken on this endpoint, signed with the data directory credentials, returns them'
          : 'wrong credentials: the local registry takes Basic AWS:<password>, the token ECR GetAuthorizationToken returns',
      );
  }

  /** NAME_UNKNOWN for a repository that does not exist, listing what the registry holds. */
  private async unknownRepository(name: string, code: 'NAME_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'BLOB_UNKNOWN') {
    const held = await this.storage.listRepositories();
    const message =
      this.base?.unknownMessage(name, held) ??
      `repository ${name} is not in the local registry (it holds ${held.length > 0 ? held.join(', ') : 'nothing yet'})`;
    return new DistributionError(code, message, { name, repositories: held });
  }

  private async handleDistribution(req: IncomingMessage, res: ServerResponse, url: URL, path: string) {
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (path === '/v2/' || path === '/v2') {
      if (!read) throw new DistributionError('UNSUPPORTED', `${method} ${path} is not supported`);
      // As ECR: 401 with the Basic challenge until the token from GetAuthorizationToken is sent.
      this.requireAuth(req);
      sendJson(res, 200, {});
      return;
    }
    if (path === '/v2/_catalog') {
      this.requireAuth(req);
      if (!read) throw new DistributionError('UNSUPPORTED', `${method} ${path} is not supported`);
      const { page, link } = pageOf(await this.storage.listRepositories(), url, '/v2/_catalog');
      sendJson(res, 200, { repositories: page }, link ? { link } : {});
      return;
    }
    // library/ is the local ECR Public (base images): anyone may pull from it. Everything else is a
    // private repository, as in ECR: pulls and pushes need the token.
    if (!(read && repositoryOf(path)?.startsWith('library/'))) this.requireAuth(req);

    let match = routes.tags.exec(path);
    if (match?.[1]) {
      const name = match[1];
      checkRepositoryName(name);
      if (!read) throw new DistributionError('UNSUPPORTED', `${method} on tags/list is not supported`);
      await this.beforeRead(name);
      const tags = await this.storage.listTags(name);
      if (!tags) throw await this.unknownRepository(name, 'NAME_UNKNOWN');
      const { page, link } = pageOf(tags, url, `/v2/${name}/tags/list`);
      sendJson(res, 200, { name, tags: page }, link ? { link } : {});
      return;
    }
    match = routes.manifest.exec(path);
    if (match?.[1] && match[2]) {
      checkRepositoryName(match[1]);
      this.refuseBaseWrite(method, match[1]);
      await this.manifest(req, res, url, match[1], match[2]);
      return;
    }
    match = routes.uploads.exec(path);
    if (match?.[1]) {
      checkRepositoryName(match[1]);
      this.refuseBaseWrite(method, match[1]);
      if (method !== 'POST') throw new DistributionError('UNSUPPORTED', `${method} ${path} is not supported`);
      await this.startUpload(req, res, url, match[1]);
      return;
    }
    match = routes.upload.exec(path);
    if (match?.[1] && match[2]) {
      checkRepositoryName(match[1]);
      await this.upload(req, res, url, match[1], match[2]);
      return;
    }
    match = routes.blob.exec(path);
    if (match?.[1] && match[2]) {
      checkRepositoryName(match[1]);
      await this.blob(req, res, match[1], match[2]);
      return;
    }
    throw new DistributionError('UNSUPPORTED', `no such endpoint: ${method} ${path}`, undefined, 404);
  }

  private refuseBaseWrite(method: string, name: string) {
    if (method !== 'GET' && method !== 'HEAD' && this.base?.owns(name))
      throw new DistributionError(
        'DENIED',
        `${name} is built by the local registry from this machine's node; push images to another repository`,
      );
  }

  private async blob(req: IncomingMessage, res: ServerResponse, name: string, digest: string) {
    const method = req.method ?? 'GET';
    if (method === 'DELETE')
      throw new DistributionError('UNSUPPORTED', 'the local registry does not delete blobs');
    if (method !== 'GET' && method !== 'HEAD')
      throw new DistributionError('UNSUPPORTED', `${method} on a blob is not supported`);
    checkDigest(digest);
    await this.beforeRead(name);
    const size = await this.storage.blobSize(name, digest);
    if (size === undefined) {
      if (!(await this.storage.repositoryExists(name)))
        throw await this.unknownRepository(name, 'BLOB_UNKNOWN');
      throw new DistributionError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${name}`, { digest });
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'docker-content-digest': digest,
      etag: `"${digest}"`,
      'accept-ranges': 'bytes',
    };
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'content-range': `bytes */${size}`, 'content-length': 0 });
      res.end();
      return;
    }
    if (range) {
      res.writeHead(206, {
        ...headers,
        'content-range': `bytes ${range.start}-${range.end}/${size}`,
        'content-length': range.end - range.start + 1,
      });
    } else res.writeHead(200, { ...headers, 'content-length': size });
    if (method === 'HEAD') {
      res.end();
      return;
    }
    const stream = this.storage.readBlob(name, digest, range);
    stream.on('error', (error) => res.destroy(error));
    stream.pipe(res);
  }

  private uploadLocation(name: string, id: string) {
    return `/v2/${name}/blobs/uploads/${id}`;
  }

  private created(res: ServerResponse, name: string, digest: string) {
    res.writeHead(201, {
      location: `/v2/${name}/blobs/${digest}`,
      'docker-content-digest': digest,
      'content-length': 0,
    });
    res.end();
  }

  private async startUpload(req: IncomingMessage, res: ServerResponse, url: URL, name: string) {
    const mount = url.searchParams.get('mount');
    const digest = url.searchParams.get('digest');
    if (mount) {
      const from = url.searchParams.get('from') ?? undefined;
      if (from !== undefined) checkRepositoryName(from);
      if (await this.storage.mountBlob(name, mount, from)) {
        this.created(res, name, mount);
        return;
      }
    } else if (digest !== null) {
      await this.storage.putBlob(name, digest, req, contentLength(req));
      this.created(res, name, digest);
      return;
    }
    const session = await this.storage.startUpload(name);
    res.writeHead(202, {
      location: this.uploadLocation(name, session.id),
      range: uploadRange(session.offset),
      'docker-upload-uuid': session.id,
      'content-length': 0,
    });
    res.end();
  }

  private async upload(req: IncomingMessage, res: ServerResponse, url: URL, name: string, id: string) {
    const method = req.method ?? 'GET';
    const location = this.uploadLocation(name, id);
    const rangeError = (error: unknown) => {
      if (error instanceof DistributionError && error.status === 416) {
        const offset = this.storage.uploadOffset(name, id);
        res.setHeader('location', location);
        res.setHeader('range', uploadRange(offset));
      }
      return error;
    };
    switch (method) {
      case 'GET':
      case 'HEAD': {
        const offset = this.storage.uploadOffset(name, id);
        res.writeHead(204, { location, range: uploadRange(offset), 'docker-upload-uuid': id });
        res.end();
        return;
      }
      case 'PATCH': {
        const range = parseContentRange(req.headers['content-range']);
        const offset = await this.storage.appendUpload(name, id, req, range).catch((error) => {
          throw rangeError(error);
        });
        res.writeHead(202, {
          location,
          range: uploadRange(offset),
          'docker-upload-uuid': id,
          'content-length': 0,
        });
        res.end();
        return;
      }
      case 'PUT': {
        const digest = url.searchParams.get('digest');
        if (!digest)
          throw new DistributionError(
            'DIGEST_INVALID',
            'closing an upload needs ?digest=<digest of the whole blob>',
          );
        const range = parseContentRange(req.headers['content-range']);
        const length = contentLength(req);
        if (range || (length ?? 0) > 0 || req.headers['transfer-encoding'])
          await this.storage.appendUpload(name, id, req, range).catch((error) => {
            throw rangeError(error);
          });
        else req.resume();
        await this.storage.finishUpload(name, id, digest);
        this.created(res, name, digest);
        return;
      }
      case 'DELETE':
        await this.storage.cancelUpload(name, id);
        res.writeHead(204, { 'content-length': 0 });
        res.end();
        return;
      default:
        throw new DistributionError('UNSUPPORTED', `${method} on an upload is not supported`);
    }
  }

  private async manifest(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    name: string,
    reference: string,
  ) {
    const method = req.method ?? 'GET';
    const byDigest = reference.includes(':');
    if (byDigest) checkDigest(reference);
    else if (!tagPattern.test(reference))
      throw new DistributionError(
        'MANIFEST_INVALID',
        `invalid tag "${reference}": [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`,
      );
    if (method === 'PUT') {
      const bytes = await readBody(req, maxManifestBytes).catch((error: unknown) => {
        if (!(error instanceof BodyTooLargeError)) throw error;
        throw new DistributionError(
          'MANIFEST_INVALID',
          `manifest is larger than the ${maxManifestBytes} bytes the local registry accepts`,
          undefined,
          413,
        );
      });
      const tags = byDigest ? url.searchParams.getAll('tag') : [];
      const image = await this.storage.putManifest(name, reference, bytes, req.headers['content-type'], {
        tags,
      });
      const headers: Record<string, string | number | string[]> = {
        location: `/v2/${name}/manifests/${image.digest}`,
        'docker-content-digest': image.digest,
        'content-length': 0,
      };
      if (tags.length > 0) headers['oci-tag'] = tags;
      res.writeHead(201, headers);
      res.end();
      return;
    }
    if (method === 'DELETE')
      throw new DistributionError('UNSUPPORTED', 'the local registry does not delete manifests or tags');
    if (method !== 'GET' && method !== 'HEAD')
      throw new DistributionError('UNSUPPORTED', `${method} on a manifest is not supported`);
    await this.beforeRead(name);
    const alias = byDigest ? undefined : this.base?.alias(name, reference);
    const image = await this.storage.findManifest(name, alias?.tag ?? reference);
    if (image && alias?.warning) res.setHeader('warning', `299 - "${alias.warning.replaceAll('"', "'")}"`);
    if (!image) {
      if (!(await this.storage.repositoryExists(name)))
        throw await this.unknownRepository(name, 'MANIFEST_UNKNOWN');
      const tags = (await this.storage.listTags(name)) ?? [];
      throw new DistributionError(
        'MANIFEST_UNKNOWN',
        `manifest ${reference} is not in repository ${name} (its tags: ${tags.length > 0 ? tags.sort(byCodePoint).join(', ') : 'none'})`,
        { name, reference },
      );
    }
    const headers = {
      'content-type': image.mediaType,
      'content-length': image.size,
      'docker-content-digest': image.digest,
      etag: `"${image.digest}"`,
    };
    if (method === 'HEAD') {
      res.writeHead(200, headers);
      res.end();
      return;
    }
    const bytes = await this.storage.readManifest(name, image);
    res.writeHead(200, headers);
    res.end(bytes);
  }
}

/**
 * The local ECR: an OCI distribution registry on loopback, stored as OCI image layouts under
 * `dir`, that also answers the ECR JSON calls Stepline's code makes, signed (SigV4) with
 * `credentials`. Pulls of `library/` (the base images) are anonymous; every other request needs
 * Basic `AWS:<password>`, the token `GetAuthorizationToken` returns. With `baseImages` it
 * offers `library/node` built from this machine's Node, so image builds need no network.
 */
export async function startLocalRegistry(options: LocalRegistryOptions): Promise<LocalRegistry> {
  const storage = new RegistryStorage(options.dir);
  await storage.init();
  const password = await registryPassword(options.dir);
  const base =
    options.baseImages === false
      ? undefined
      : startBaseImages(storage, options.onBaseImageError ? { onError: options.onBaseImageError } : {});
  const registry = new RegistryServer(storage, password, base, '', options.credentials);
  const server = createServer((req, res) => {
    void registry.handle(req, res);
  });
  const host = options.host ?? '127.0.0.1';
  const portFile = join(options.dir, '.port');
  const previous = options.reusePort
    ? Number((await readFile(portFile, 'utf8').catch(() => '')).trim()) || undefined
    : undefined;
  let port: number;
  try {
    ({ port } = await listen(
      server,
      host,
      previous ?? options.port ?? 0,
      previous === undefined ? {} : { fallbackPort: options.port ?? 0 },
    ));
  } catch (error) {
    await base?.settled;
    throw error;
  }
  if (options.reusePort) await writeFile(portFile, `${port}\n`);
  const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const endpoint = `http://${hostPort}`;
  registry.setEndpoint(endpoint);
  return {
    endpoint,
    host: hostPort,
    dir: options.dir,
    password,
    baseImagesReady: base?.settled ?? Promise.resolve(),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await base?.settled;
      await storage.dropUploads();
    },
  };
}
