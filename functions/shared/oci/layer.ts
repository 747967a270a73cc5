import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  chmod,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tarStream from 'tar-stream';

/** One entry of a layer, at `path` inside the image (leading `/` optional). */
export interface LayerEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  /** Permission bits (e.g. `0o644`); file-type bits are ignored. */
  mode: number;
  /** @default 0 */
  uid?: number;
  /** @default 0 */
  gid?: number;
  /** A host file whose bytes are the entry's content (files only). */
  source?: string;
  /** The entry's content (files only), instead of `source`. */
  content?: Buffer;
  /** The symlink's target (symlinks only). */
  linkname?: string;
}

export interface LayerOptions {
  /** Every entry's mtime: the commit time, so the same files give the same digest. */
  mtime: Date;
  /** @default 6 (what Docker and Go's gzip writer use) */
  gzipLevel?: number;
}

export interface WrittenLayer {
  /** Digest of the gzipped blob: what the manifest lists. */
  digest: string;
  /** Digest of the uncompressed tar: what the config's `rootfs.diff_ids` lists. */
  diffId: string;
  /** Bytes of the gzipped blob. */
  size: number;
  uncompressedSize: number;
  /** Entries written, parent directories added by the writer included. */
  entries: number;
}

/**
 * Writes a reproducible gzipped tar layer to `outFile`. Entries are sorted by path; directories
 * missing between the root and an entry are added (mode 0755); every entry gets `options.mtime`,
 * numeric owners (0 unless given) and empty user and group names; long names use PAX headers.
 * The gzip header carries no name, mtime 0 and a fixed OS byte. So the same entries (paths,
 * modes, contents) give the same digest whatever the host files' mtimes, owners or order. The
 * compressed bytes also depend on the zlib build, so across Node releases only `diffId` is
 * promised to stay the same.
 */
export async function writeLayer(
  entries: readonly LayerEntry[],
  outFile: string,
  options: LayerOptions,
): Promise<WrittenLayer> {
  const sorted = normalizeEntries(entries);
  const mtime = new Date(Math.floor(options.mtime.getTime() / 1000) * 1000);
  const pack = tarStream.pack();
  const tar = new HashTap('sha256');
  const blob = new HashTap('sha256');
  const written = pipeline(
    pack,
    tar,
    createGzip({ level: options.gzipLevel ?? 6 }),
    new FixedGzipHeader(),
    blob,
    createWriteStream(outFile),
  );
  try {
    for (const entry of sorted) await addEntry(pack, entry, mtime);
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
  await written;
  return {
    digest: blob.digest(),
    diffId: tar.digest(),
    size: blob.bytes,
    uncompressedSize: tar.bytes,
    entries: sorted.length,
  };
}

function normalizeEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const entry of entries) {
    const path = normalizeLayerPath(entry.path);
    if (path === '') throw new Error(`layer entry "${entry.path}" names the root`);
    if (byPath.has(path)) throw new Error(`layer entry "${path}" is listed twice`);
    if (entry.type === 'symlink' && !entry.linkname) throw new Error(`symlink "${path}" has no linkname`);
    if (entry.type === 'file' && entry.source === undefined && entry.content === undefined) {
      throw new Error(`file "${path}" has neither source nor content`);
    }
    byPath.set(path, { ...entry, path });
  }
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (!existing) byPath.set(parent, { path: parent, type: 'directory', mode: 0o755 });
      else if (existing.type !== 'directory') {
        throw new Error(`layer entry "${path}" is inside "${parent}", which is a ${existing.type}`);
      }
    }
  }
  return [...byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** `./a//b/` → `a/b`; throws on a `..` component. */
export function normalizeLayerPath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`layer path "${path}" leaves the root ("..")`);
  return parts.join('/');
}

type HeaderArgument = Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>;

async function addEntry(pack: tarStream.Pack, entry: LayerEntry, mtime: Date): Promise<void> {
  const header: HeaderArgument = {
    name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
    type: entry.type,
    mode: entry.mode & 0o7777,
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    uname: '',
    gname: '',
    mtime,
  };
  if (entry.type === 'directory') return addBuffer(pack, header, Buffer.alloc(0));
  if (entry.type === 'symlink')
    return addBuffer(pack, { ...header, linkname: entry.linkname! }, Buffer.alloc(0));
  if (entry.content !== undefined) return addBuffer(pack, header, entry.content);
  const source = entry.source!;
  const info = await stat(source);
  if (!info.isFile()) throw new Error(`layer entry "${entry.path}": ${source} is not a regular file`);
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ ...header, size: info.size }, (error) => (error ? reject(error) : resolve()));
    pipeline(createReadStream(source), sink).catch(reject);
  });
}

function addBuffer(pack: tarStream.Pack, header: HeaderArgument, content: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ ...header, size: content.length }, content, (error) => (error ? reject(error) : resolve()));
  });
}

/** Passes bytes through while hashing and counting them. */
class HashTap extends Transform {
  readonly #hash: Hash;
  bytes = 0;
  constructor(algorithm: string) {
    super();
    this.#hash = createHash(algorithm);
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
  digest(): string {
    return `sha256:${this.#hash.digest('hex')}`;
  }
}

/** Sets the gzip header's mtime to 0 and its OS byte to 255 ("unknown"), whatever zlib wrote. */
class FixedGzipHeader extends Transform {
  #head: Buffer | undefined = Buffer.alloc(0);
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#head) {
      callback(null, chunk);
      return;
    }
    this.#head = Buffer.concat([this.#head, chunk]);
    if (this.#head.length < 10) {
      callback();
      return;
    }
    const out = this.#head;
    this.#head = undefined;
    out.writeUInt32LE(0, 4);
    out[9] = 0xff;
    callback(null, out);
  }
  override _flush(callback: TransformCallback): void {
    callback(null, this.#head && this.#head.length > 0 ? this.#head : undefined);
  }
}

export interface ExtractOptions {
  /** Told about entries that were skipped (device nodes, FIFOs). */
  onWarning?: (message: string) => void;
}

export interface ExtractResult {
  /** Entries created or replaced. */
  entries: number;
  /** Paths removed by `.wh.` files and opaque directories. */
  whiteouts: number;
  /** Entries not created (device nodes, FIFOs: an unprivileged process cannot make them). */
  skipped: string[];
}

/**
 * Applies one layer (a tar stream, gzipped or not) on top of `intoDir`, as a container runtime
 * does: `.wh.<name>` removes `<name>` from the lower layers, `.wh..wh..opq` empties its directory
 * of everything the lower layers put there. Entry paths are resolved inside `intoDir`: a `..`
 * entry is refused, and symlinks met on the way (absolute or relative) are followed as if
 * `intoDir` were `/`, so nothing is written outside it. Owners are not applied (unprivileged);
 * directories stay owner-writable so that later layers can be applied.
 */
export async function extractLayer(
  stream: Readable | AsyncIterable<Uint8Array>,
  intoDir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  await mkdir(intoDir, { recursive: true });
  const tarBytes = await decompressed(stream);
  const extract = tarStream.extract();
  const feeding = pipeline(tarBytes, extract);
  const result: ExtractResult = { entries: 0, whiteouts: 0, skipped: [] };
  const unpacked = new Set<string>();
  const directories: { path: string; mode: number; mtime: Date | undefined }[] = [];
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const path = normalizeLayerPath(header.name);
      if (path === '') {
        entry.resume();
        continue;
      }
      const slash = path.lastIndexOf('/');
      const parentRel = slash >= 0 ? path.slice(0, slash) : '';
      const base = slash >= 0 ? path.slice(slash + 1) : path;
      if (base === '.wh..wh..opq') {
        entry.resume();
        const dir = await resolveInRoot(intoDir, parentRel, true);
        result.whiteouts += await removeNotUnpacked(dir, parentRel, unpacked);
        continue;
      }
      if (base.startsWith('.wh.')) {
        entry.resume();
        const dir = await resolveInRoot(intoDir, parentRel, true);
        const victim = join(dir, base.slice('.wh.'.length));
        if (await exists(victim)) result.whiteouts++;
        await rm(victim, { recursive: true, force: true });
        continue;
      }
      const dir = await resolveInRoot(intoDir, parentRel, true);
      const target = join(dir, base);
      const existing = await lstat(target).catch(() => undefined);
      const mode = (header.mode ?? 0o644) & 0o7777;
      switch (header.type) {
        case 'directory': {
          entry.resume();
          if (existing && !existing.isDirectory()) await rm(target, { recursive: true, force: true });
          if (!existing?.isDirectory()) await mkdir(target, { mode: 0o700 });
          directories.push({ path: target, mode: mode | 0o700, mtime: header.mtime });
          break;
        }
        case 'file':
        case 'contiguous-file': {
          if (existing) await rm(target, { recursive: true, force: true });
          await pipeline(entry, createWriteStream(target, { mode: 0o600 }));
          await chmod(target, mode);
          if (header.mtime) await utimes(target, header.mtime, header.mtime);
          break;
        }
        case 'symlink': {
          entry.resume();
          if (existing) await rm(target, { recursive: true, force: true });
          await symlink(header.linkname ?? '', target);
          if (header.mtime) await lutimes(target, header.mtime, header.mtime).catch(() => undefined);
          break;
        }
        case 'link': {
          entry.resume();
          const source = normalizeLayerPath(header.linkname ?? '');
          const sourceSlash = source.lastIndexOf('/');
          const sourceDir = await resolveInRoot(
            intoDir,
            sourceSlash >= 0 ? source.slice(0, sourceSlash) : '',
            false,
          );
          if (existing) await rm(target, { recursive: true, force: true });
          await link(join(sourceDir, source.slice(sourceSlash + 1)), target);
          break;
        }
        default: {
          entry.resume();
          result.skipped.push(path);
          options.onWarning?.(`skipped ${header.type} entry "${path}"`);
          continue;
        }
      }
      unpacked.add(path);
      result.entries++;
    }
    await feeding;
  } catch (error) {
    extract.destroy();
    await feeding.catch(() => undefined);
    throw error;
  }
  for (const d of directories.reverse()) {
    await chmod(d.path, d.mode);
    if (d.mtime) await utimes(d.path, d.mtime, d.mtime);
  }
  return result;
}

/** The stream as tar bytes: gunzipped when it starts with the gzip magic. */
async function decompressed(stream: Readable | AsyncIterable<Uint8Array>): Promise<Readable> {
  const iterator = stream[Symbol.asyncIterator]();
  let first = Buffer.alloc(0);
  let done = false;
  while (first.length < 4 && !done) {
    const next = await iterator.next();
    if (next.done) done = true;
    else first = Buffer.concat([first, Buffer.from(next.value as Uint8Array)]);
  }
  const rest = async function* () {
    if (first.length > 0) yield first;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield Buffer.from(next.value as Uint8Array);
    }
  };
  const bytes = Readable.from(rest(), { objectMode: false });
  if (first[0] === 0x1f && first[1] === 0x8b) return bytes.pipe(createGunzip());
  if (first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd) {
    throw new Error('zstd-compressed layers are not supported (Node 20 has no zstd); use gzip layers');
  }
  return bytes;
}

/**
 * The absolute path of directory `rel` inside `root`, following symlinks as if `root` were `/`
 * (an absolute target restarts at `root`, `..` stops at `root`). Missing directories are created
 * when `create`, else it throws.
 */
export async function resolveInRoot(root: string, rel: string, create: boolean): Promise<string> {
  const stack: string[] = [];
  let pending = rel.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  while (pending.length > 0) {
    const component = pending.shift()!;
    if (component === '..') {
      stack.pop();
      continue;
    }
    const path = join(root, ...stack, component);
    const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!info) {
      if (!create) throw new Error(`"${rel}" does not exist in the layer's root`);
      await mkdir(path, { mode: 0o755 });
      stack.push(component);
      continue;
    }
    if (info.isSymbolicLink()) {
      if (++links > 40) throw new Error(`"${rel}": too many levels of symbolic links`);
      const target = await readlink(path);
      if (target.startsWith('/')) stack.length = 0;
      pending = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...pending];
      continue;
    }
    if (!info.isDirectory())
      throw new Error(`"${rel}": "${[...stack, component].join('/')}" is not a directory`);
    stack.push(component);
  }
  return join(root, ...stack);
}

async function removeNotUnpacked(dir: string, rel: string, unpacked: ReadonlySet<string>): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const child = join(dir, name);
    if (!unpacked.has(childRel)) {
      await rm(child, { recursive: true, force: true });
      removed++;
    } else if ((await lstat(child)).isDirectory()) {
      removed += await removeNotUnpacked(child, childRel, unpacked);
    }
  }
  return removed;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
