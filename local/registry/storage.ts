import { createHash, type Hash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { Descriptor } from '#shared/oci/types.ts';
import { DistributionError } from './errors.ts';
import { digestPattern, namePattern, parseManifest, tagPattern } from './manifest.ts';

/** Annotation on `index.json` entries: when the manifest was first pushed (ISO 8601). */
export const pushedAtAnnotation = 'io.stepline.pushed-at';
/** The annotation OCI image layouts use to name a tag. */
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

/** Largest manifest accepted; the spec asks registries to take at least 4 MB. */
export const maxManifestBytes = 4 * 1024 * 1024;

/** Upload files older than this are a dead process's leftovers. */
const staleUploadMs = 60 * 60 * 1000;

/** Path components that would collide with a repository's own layout files. */
const reservedComponents = new Set(['blobs', 'index.json', 'oci-layout']);

/** A manifest as the registry knows it: one per digest per repository, with its tags. */
export interface ImageRecord {
  digest: string;
  mediaType: string;
  size: number;
  tags: string[];
  pushedAt: Date;
  /** Annotations kept on the layout's `index.json` entries besides the tag and push time. */
  annotations: Record<string, string>;
}

interface RepositoryState {
  images: Map<string, ImageRecord>;
}

interface UploadSession {
  id: string;
  repository: string;
  path: string;
  hash: Hash;
  offset: number;
  /** Operations on one session run one after another. */
  queue: Promise<unknown>;
}

const IndexJson = z.looseObject({
  schemaVersion: z.literal(2),
  manifests: z.array(Descriptor),
});

export function sha256Of(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Throws NAME_INVALID unless `name` is a repository name the registry can store. */
export function checkRepositoryName(name: string): void {
  if (name.length > 255 || !namePattern.test(name))
    throw new DistributionError(
      'NAME_INVALID',
      `invalid repository name "${name}": lower-case letters, digits and separators (. _ __ -), components joined by /`,
    );
  const reserved = name
    .split('/')
    .slice(1)
    .find((part) => reservedComponents.has(part));
  if (reserved)
    throw new DistributionError(
      'NAME_INVALID',
      `invalid repository name "${name}": "${reserved}" is reserved by the on-disk OCI layout`,
    );
}

/** Throws DIGEST_INVALID unless `digest` is a sha256 digest. */
export function checkDigest(digest: string): void {
  if (!digestPattern.test(digest))
    throw new DistributionError(
      'DIGEST_INVALID',
      `invalid digest "${digest}": the local registry stores sha256:<64 lower-case hex digits>`,
    );
}

function isDigest(reference: string): boolean {
  return reference.includes(':');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * The registry's storage: one OCI image layout per repository under `dir` (`<repo>/oci-layout`,
 * `<repo>/index.json`, `<repo>/blobs/sha256/…`), so skopeo, podman and umoci read it as
 * `oci:<dir>/<repo>:<tag>`. Blobs are stored once in `<dir>/.blobs/` and hard-linked into every
 * repository that holds them. Uploads stream to `<dir>/.uploads/` and enter the store by an
 * atomic link, so concurrent pushes of the same blob are safe. Names starting with a dot are
 * never repository names, so the registry's own files cannot collide with a repository.
 */
export class RegistryStorage {
  private readonly repositories = new Map<string, Promise<RepositoryState | undefined>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly uploads = new Map<string, UploadSession>();

  constructor(readonly dir: string) {}

  private get storeDir() {
    return join(this.dir, '.blobs', 'sha256');
  }

  private get uploadDir() {
    return join(this.dir, '.uploads');
  }

  /**
   * Creates the directories and drops the uploads a previous process left unfinished (those
   * untouched for an hour: another registry on the same directory may be uploading now).
   */
  async init(now = Date.now()): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await mkdir(this.uploadDir, { recursive: true });
    await mkdir(this.storeDir, { recursive: true });
    for (const name of await readdir(this.uploadDir)) {
      const path = join(this.uploadDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > staleUploadMs) await rm(path, { recursive: true, force: true });
    }
  }

  /** A fresh path in the upload area, for a blob being written. */
  tempPath(): string {
    return join(this.uploadDir, randomUUID());
  }

  repositoryDir(name: string): string {
    return join(this.dir, ...name.split('/'));
  }

  private blobPathIn(name: string, digest: string): string {
    return join(this.repositoryDir(name), 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  private storePath(digest: string): string {
    return join(this.storeDir, digest.slice('sha256:'.length));
  }

  private withLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => {});
    this.locks.set(key, settled);
    void settled.then(() => {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    });
    return next;
  }

  private repository(name: string): Promise<RepositoryState | undefined> {
    let state = this.repositories.get(name);
    if (!state) {
      state = this.loadRepository(name);
      this.repositories.set(name, state);
      // A failed read is not cached: the next request tries again.
      state.catch(() => this.repositories.delete(name));
    }
    return state;
  }

  private async loadRepository(name: string): Promise<RepositoryState | undefined> {
    const dir = this.repositoryDir(name);
    if (!(await exists(join(dir, 'oci-layout')))) return undefined;
    const text = await readFile(join(dir, 'index.json'), 'utf8').catch(() => undefined);
    const images = new Map<string, ImageRecord>();
    if (text === undefined) return { images };
    const index = IndexJson.parse(JSON.parse(text));
    for (const entry of index.manifests) {
      const { [refNameAnnotation]: tag, [pushedAtAnnotation]: pushedAt, ...rest } = entry.annotations ?? {};
      let image = images.get(entry.digest);
      if (!image) {
        image = {
          digest: entry.digest,
          mediaType: entry.mediaType,
          size: entry.size,
          tags: [],
          pushedAt: pushedAt ? new Date(pushedAt) : new Date(0),
          annotations: rest,
        };
        images.set(entry.digest, image);
      }
      if (tag && !image.tags.includes(tag)) image.tags.push(tag);
    }
    return { images };
  }

  private async createRepository(name: string): Promise<RepositoryState> {
    return this.withLock(`repository:${name}`, async () => {
      const existing = await this.repository(name);
      if (existing) return existing;
      const dir = this.repositoryDir(name);
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      const state: RepositoryState = { images: new Map() };
      await this.writeIndex(name, state);
      await this.writeAtomically(
        join(dir, 'oci-layout'),
        `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`,
      );
      this.repositories.set(name, Promise.resolve(state));
      return state;
    });
  }

  private async writeAtomically(path: string, content: string | Buffer): Promise<void> {
    const temp = this.tempPath();
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  }

  private async writeIndex(name: string, state: RepositoryState): Promise<void> {
    const manifests: Descriptor[] = [];
    for (const image of state.images.values()) {
      const base = { [pushedAtAnnotation]: image.pushedAt.toISOString(), ...image.annotations };
      const entry = { mediaType: image.mediaType, digest: image.digest, size: image.size };
      if (image.tags.length === 0) manifests.push({ ...entry, annotations: base });
      for (const tag of [...image.tags].sort())
        manifests.push({ ...entry, annotations: { ...base, [refNameAnnotation]: tag } });
    }
    const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
    await this.writeAtomically(
      join(this.repositoryDir(name), 'index.json'),
      `${JSON.stringify(index, null, 2)}\n`,
    );
  }

  async repositoryExists(name: string): Promise<boolean> {
    return (await this.repository(name)) !== undefined;
  }

  /** Every repository, sorted: directories holding an `oci-layout` file. */
  async listRepositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, prefix: string[]): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      if (prefix.length > 0 && entries.some((entry) => entry.name === 'oci-layout' && entry.isFile()))
        found.push(prefix.join('/'));
      for (const entry of entries) {
        if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name === 'blobs') continue;
        await walk(join(dir, entry.name), [...prefix, entry.name]);
      }
    };
    await walk(this.dir, []);
    return found.sort();
  }

  /** Size of a blob `name` holds, or undefined. */
  async blobSize(name: string, digest: string): Promise<number | undefined> {
    if (!digestPattern.test(digest)) return undefined;
    return stat(this.blobPathIn(name, digest)).then(
      (s) => s.size,
      () => undefined,
    );
  }

  /** Reads `[start, end]` (inclusive) of a blob, or all of it. */
  readBlob(name: string, digest: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.blobPathIn(name, digest), range);
  }

  /** Whether any repository holds the blob. */
  async storeHas(digest: string): Promise<boolean> {
    return exists(this.storePath(digest));
  }

  /**
   * Moves a verified file into the shared store (atomic link; a blob already stored wins, its
   * content being the same) and links it into repository `name`.
   */
  async commitBlob(name: string, file: string, digest: string): Promise<void> {
    try {
      await link(file, this.storePath(digest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      await rm(file, { force: true });
    }
    await this.linkIntoRepository(name, digest);
  }

  private async linkIntoRepository(name: string, digest: string): Promise<void> {
    if (!(await this.repository(name))) await this.createRepository(name);
    const target = this.blobPathIn(name, digest);
    try {
      await link(this.storePath(digest), target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (code !== 'EPERM' && code !== 'EXDEV' && code !== 'EMLINK') throw error;
      // A file system without hard links: a copy, renamed into place.
      const temp = this.tempPath();
      await copyFile(this.storePath(digest), temp);
      await rename(temp, target);
    }
  }

  /** Cross-repository mount: links a blob `from` holds (or, without `from`, any stored blob). */
  async mountBlob(name: string, digest: string, from: string | undefined): Promise<boolean> {
    if (!digestPattern.test(digest)) return false;
    const present =
      from !== undefined && namePattern.test(from)
        ? (await this.blobSize(from, digest)) !== undefined
        : await this.storeHas(digest);
    if (!present) return false;
    await this.linkIntoRepository(name, digest);
    return true;
  }

  /** Stores a small blob held in memory (an image config); resolves to its digest. */
  async putBlobBytes(name: string, bytes: Buffer): Promise<string> {
    const digest = sha256Of(bytes);
    const file = this.tempPath();
    await this.writeAtomically(file, bytes);
    await this.commitBlob(name, file, digest);
    return digest;
  }

  /** Stores a whole blob sent in one request, checking its digest (and length, when given). */
  async putBlob(name: string, digest: string, body: Readable, expectedLength?: number): Promise<void> {
    checkDigest(digest);
    const file = this.tempPath();
    const hash = createHash('sha256');
    try {
      await mkdir(this.uploadDir, { recursive: true });
      const received = await streamInto(body, file, 'w', 0, hash);
      if (expectedLength !== undefined && received !== expectedLength)
        throw new DistributionError(
          'SIZE_INVALID',
          `received ${received} bytes, Content-Length said ${expectedLength}`,
        );
      verifyDigest(hash, digest);
      await this.commitBlob(name, file, digest);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Starts a resumable upload session for repository `name`. */
  async startUpload(name: string): Promise<{ id: string; offset: number }> {
    const id = randomUUID();
    const path = join(this.uploadDir, `session-${id}`);
    await mkdir(this.uploadDir, { recursive: true });
    await open(path, 'w').then((handle) => handle.close());
    this.uploads.set(id, {
      id,
      repository: name,
      path,
      hash: createHash('sha256'),
      offset: 0,
      queue: Promise.resolve(),
    });
    return { id, offset: 0 };
  }

  private session(name: string, id: string): UploadSession {
    const session = this.uploads.get(id);
    if (!session || session.repository !== name)
      throw new DistributionError('BLOB_UPLOAD_UNKNOWN', `no upload session ${id} for repository ${name}`);
    return session;
  }

  /** Bytes received so far by an upload session. */
  uploadOffset(name: string, id: string): number {
    return this.session(name, id).offset;
  }

  private inSession<T>(session: UploadSession, task: () => Promise<T>): Promise<T> {
    const next = session.queue.then(task, task);
    session.queue = next.catch(() => {});
    return next;
  }

  /**
   * Appends a chunk to an upload. `range` (from Content-Range) must start where the upload
   * stands, else 416; the bytes received must fill it. A failed chunk leaves the upload as it was.
   */
  appendUpload(
    name: string,
    id: string,
    body: Readable,
    range: { start: number; end: number } | undefined,
  ): Promise<number> {
    const session = this.session(name, id);
    return this.inSession(session, async () => {
      if (!this.uploads.has(id)) throw new DistributionError('BLOB_UPLOAD_UNKNOWN', `upload ${id} ended`);
      if (range && range.start !== session.offset)
        throw new DistributionError(
          'BLOB_UPLOAD_INVALID',
          `chunk starts at byte ${range.start}, the upload has ${session.offset} bytes: the next chunk must start at ${session.offset}`,
          { offset: session.offset },
          416,
        );
      const hash = session.hash.copy();
      try {
        const received = await streamInto(body, session.path, 'r+', session.offset, hash);
        if (range && received !== range.end - range.start + 1)
          throw new DistributionError(
            'BLOB_UPLOAD_INVALID',
            `Content-Range ${range.start}-${range.end} announced ${range.end - range.start + 1} bytes, received ${received}`,
          );
        session.offset += received;
        session.hash = hash;
        return session.offset;
      } catch (error) {
        await truncate(session.path, session.offset).catch(() => {});
        throw error;
      }
    });
  }

  /** Ends an upload: verifies the whole blob against `digest` and stores it. */
  finishUpload(name: string, id: string, digest: string): Promise<void> {
    const session = this.session(name, id);
    return this.inSession(session, async () => {
      if (!this.uploads.has(id)) throw new DistributionError('BLOB_UPLOAD_UNKNOWN', `upload ${id} ended`);
      this.uploads.delete(id);
      try {
        checkDigest(digest);
        await truncate(session.path, session.offset);
        verifyDigest(session.hash, digest);
        await this.commitBlob(name, session.path, digest);
      } finally {
        await rm(session.path, { force: true });
      }
    });
  }

  /** Drops an upload session and its bytes. */
  async cancelUpload(name: string, id: string): Promise<void> {
    const session = this.session(name, id);
    this.uploads.delete(id);
    await this.inSession(session, () => rm(session.path, { force: true }));
  }

  /** Drops every upload session (on close). */
  async dropUploads(): Promise<void> {
    const sessions = [...this.uploads.values()];
    this.uploads.clear();
    await Promise.all(sessions.map((s) => rm(s.path, { force: true })));
  }

  /** The manifest a tag or digest names in repository `name`, or undefined. */
  async findManifest(name: string, reference: string): Promise<ImageRecord | undefined> {
    const state = await this.repository(name);
    if (!state) return undefined;
    if (isDigest(reference)) return state.images.get(reference);
    for (const image of state.images.values()) if (image.tags.includes(reference)) return image;
    return undefined;
  }

  async readManifest(name: string, image: ImageRecord): Promise<Buffer> {
    return readFile(this.blobPathIn(name, image.digest));
  }

  /** Every manifest of a repository, or undefined when the repository does not exist. */
  async listImages(name: string): Promise<ImageRecord[] | undefined> {
    const state = await this.repository(name);
    return state && [...state.images.values()];
  }

  /** Tags of a repository, in Go's `sort.Strings` order, or undefined when it does not exist. */
  async listTags(name: string): Promise<string[] | undefined> {
    const images = await this.listImages(name);
    return images?.flatMap((image) => image.tags).sort(byCodePoint);
  }

  /**
   * Stores a manifest's exact bytes under `reference` (a tag, or its own digest) plus `tags`,
   * after checking that everything it references is in the repository (MANIFEST_BLOB_UNKNOWN
   * otherwise). A tag that named another manifest moves to this one.
   */
  async putManifest(
    name: string,
    reference: string,
    bytes: Buffer,
    contentType: string | undefined,
    options: { tags?: string[]; annotations?: Record<string, string>; now?: Date } = {},
  ): Promise<ImageRecord> {
    if (bytes.length > maxManifestBytes)
      throw new DistributionError(
        'MANIFEST_INVALID',
        `manifest is ${bytes.length} bytes, more than the ${maxManifestBytes} the local registry accepts`,
        undefined,
        413,
      );
    const digest = sha256Of(bytes);
    const tags = [...(options.tags ?? [])];
    if (isDigest(reference)) {
      checkDigest(reference);
      if (reference !== digest)
        throw new DistributionError('DIGEST_INVALID', `manifest pushed as ${reference} has digest ${digest}`);
    } else tags.unshift(reference);
    for (const tag of tags)
      if (!tagPattern.test(tag))
        throw new DistributionError(
          'MANIFEST_INVALID',
          `invalid tag "${tag}": [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`,
        );
    const parsed = parseManifest(bytes, contentType);
    const missing: { digest: string; kind: string }[] = [];
    if (parsed.kind === 'manifest') {
      for (const descriptor of [parsed.config, ...parsed.layers]) {
        if (descriptor.urls?.length) continue; // a foreign layer is fetched from its URLs
        if ((await this.blobSize(name, descriptor.digest)) === undefined)
          missing.push({ digest: descriptor.digest, kind: 'blob' });
      }
    } else {
      for (const descriptor of parsed.manifests)
        if (!(await this.findManifest(name, descriptor.digest)))
          missing.push({ digest: descriptor.digest, kind: 'manifest' });
    }
    if (missing.length > 0)
      throw new DistributionError(
        'MANIFEST_BLOB_UNKNOWN',
        `manifest references ${missing.map((m) => `${m.kind} ${m.digest}`).join(', ')}, not in repository ${name}: push ${missing.length === 1 ? 'it' : 'them'} first`,
        missing,
      );
    await this.putBlobBytes(name, bytes);
    return this.withLock(`index:${name}`, async () => {
      const state = (await this.repository(name)) ?? (await this.createRepository(name));
      let image = state.images.get(digest);
      if (!image) {
        image = {
          digest,
          mediaType: parsed.mediaType,
          size: bytes.length,
          tags: [],
          pushedAt: options.now ?? new Date(),
          annotations: {},
        };
        state.images.set(digest, image);
      }
      Object.assign(image.annotations, options.annotations);
      for (const tag of tags) {
        for (const other of state.images.values())
          if (other !== image) other.tags = other.tags.filter((t) => t !== tag);
        if (!image.tags.includes(tag)) image.tags.push(tag);
      }
      await this.writeIndex(name, state);
      return { ...image, tags: [...image.tags] };
    });
  }
}

/** Go's `sort.Strings` order (byte order), which the spec names for tag lists. */
export function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function verifyDigest(hash: Hash, digest: string): void {
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== digest)
    throw new DistributionError(
      'DIGEST_INVALID',
      `the uploaded content has digest ${actual}, not ${digest}`,
      {
        expected: digest,
        actual,
      },
    );
}

/** Streams `body` into `file` from byte `start`, feeding `hash`; resolves to the bytes written. */
async function streamInto(
  body: Readable,
  file: string,
  flags: 'w' | 'r+',
  start: number,
  hash: Hash,
): Promise<number> {
  let received = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      received += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(body, tap, createWriteStream(file, { flags, start }));
  return received;
}
