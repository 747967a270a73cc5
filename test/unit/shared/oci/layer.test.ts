import { createReadStream } from 'node:fs';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractLayer, type LayerEntry, writeLayer } from '#shared/oci/layer.ts';
import { sha256Digest } from '#shared/oci/types.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stepline-layer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const commitTime = new Date('2024-05-01T12:00:00Z');

async function hostFiles(root: string, mtime: Date) {
  await mkdir(join(root, 'dist'), { recursive: true });
  await writeFile(join(root, 'dist/server.js'), 'console.log("hi")\n');
  await writeFile(join(root, 'package.json'), '{"name":"x"}\n');
  for (const f of ['dist/server.js', 'package.json']) await utimes(join(root, f), mtime, mtime);
  return [
    { path: 'app/package.json', type: 'file', mode: 0o644, source: join(root, 'package.json') },
    { path: 'app/dist/server.js', type: 'file', mode: 0o644, source: join(root, 'dist/server.js') },
  ] satisfies LayerEntry[];
}

async function listTar(file: string) {
  const extract = tarStream.extract();
  Readable.from(gunzipSync(await readFile(file))).pipe(extract);
  const headers = [];
  for await (const entry of extract) {
    headers.push(entry.header);
    entry.resume();
  }
  return headers;
}

describe('writeLayer', () => {
  it('gives the same digest for the same files whatever their mtimes and listing order', async () => {
    const a = await hostFiles(join(dir, 'a'), new Date('2001-01-01T00:00:00Z'));
    const b = await hostFiles(join(dir, 'b'), new Date('2030-06-15T08:30:00Z'));

    const first = await writeLayer(a, join(dir, 'a.tar.gz'), { mtime: commitTime });
    const second = await writeLayer([...b].reverse(), join(dir, 'b.tar.gz'), { mtime: commitTime });

    expect(second.digest).toBe(first.digest);
    expect(second.diffId).toBe(first.diffId);
    expect(first.digest).toBe(sha256Digest(await readFile(join(dir, 'a.tar.gz'))));
    expect(first.diffId).toBe(sha256Digest(gunzipSync(await readFile(join(dir, 'a.tar.gz')))));
    expect(first.size).toBe((await stat(join(dir, 'a.tar.gz'))).size);
  });

  it('gives another digest when the commit time differs', async () => {
    const entries = await hostFiles(join(dir, 'a'), commitTime);
    const first = await writeLayer(entries, join(dir, 'a.tar.gz'), { mtime: commitTime });
    const later = await writeLayer(entries, join(dir, 'b.tar.gz'), {
      mtime: new Date('2024-05-02T00:00:00Z'),
    });
    expect(later.diffId).not.toBe(first.diffId);
  });

  it('writes sorted entries with parent directories, the commit time, numeric root owners and no user names', async () => {
    const entries = await hostFiles(join(dir, 'a'), new Date());
    await writeLayer(
      [...entries, { path: '/app/current', type: 'symlink', mode: 0o777, linkname: 'dist' }],
      join(dir, 'l.tar.gz'),
      { mtime: commitTime },
    );

    const headers = await listTar(join(dir, 'l.tar.gz'));

    expect(headers.map((h) => h.name)).toEqual([
      'app/',
      'app/current',
      'app/dist/',
      'app/dist/server.js',
      'app/package.json',
    ]);
    for (const h of headers) {
      expect(h.mtime?.toISOString()).toBe(commitTime.toISOString());
      expect([h.uid, h.gid, h.uname, h.gname]).toEqual([0, 0, '', '']);
    }
    expect(headers[0]?.mode).toBe(0o755);
    expect(headers[1]).toMatchObject({ type: 'symlink', linkname: 'dist' });
  });

  it('writes a gzip header with no name, mtime 0 and a fixed OS byte', async () => {
    await writeLayer(
      [{ path: 'a', type: 'file', mode: 0o644, content: Buffer.from('a') }],
      join(dir, 'l.tar.gz'),
      {
        mtime: commitTime,
      },
    );
    const head = (await readFile(join(dir, 'l.tar.gz'))).subarray(0, 10);
    expect([...head]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, head[8], 0xff]);
  });

  it('keeps names longer than 100 bytes through PAX headers', async () => {
    const long = `app/${'d'.repeat(120)}/${'f'.repeat(120)}.js`;
    await writeLayer(
      [{ path: long, type: 'file', mode: 0o644, content: Buffer.from('x') }],
      join(dir, 'l.tar.gz'),
      {
        mtime: commitTime,
      },
    );
    const names = (await listTar(join(dir, 'l.tar.gz'))).map((h) => h.name);
    expect(names).toContain(long);
  });

  it('refuses a path that leaves the root', async () => {
    await expect(
      writeLayer(
        [{ path: 'app/../../etc/passwd', type: 'file', mode: 0o644, content: Buffer.from('') }],
        join(dir, 'x'),
        {
          mtime: commitTime,
        },
      ),
    ).rejects.toThrow('leaves the root');
  });
});

describe('extractLayer', () => {
  async function layer(name: string, entries: LayerEntry[]) {
    const file = join(dir, name);
    await writeLayer(entries, file, { mtime: commitTime });
    return file;
  }

  it('unpacks files, directories and symlinks with their modes', async () => {
    const file = await layer('l.tar.gz', [
      { path: 'usr/bin/tool', type: 'file', mode: 0o755, content: Buffer.from('#!/bin/sh\n') },
      { path: 'bin', type: 'symlink', mode: 0o777, linkname: 'usr/bin' },
    ]);
    const root = join(dir, 'root');

    const result = await extractLayer(createReadStream(file), root);

    expect(result.entries).toBe(4);
    expect(await readFile(join(root, 'usr/bin/tool'), 'utf8')).toBe('#!/bin/sh\n');
    expect((await stat(join(root, 'usr/bin/tool'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(root, 'bin'))).toBe('usr/bin');
  });

  it('applies whiteout files and opaque directories from an upper layer', async () => {
    const lower = await layer('lower.tar.gz', [
      { path: 'etc/old.conf', type: 'file', mode: 0o644, content: Buffer.from('old') },
      { path: 'etc/keep.conf', type: 'file', mode: 0o644, content: Buffer.from('keep') },
      { path: 'var/cache/a', type: 'file', mode: 0o644, content: Buffer.from('a') },
      { path: 'var/cache/sub/b', type: 'file', mode: 0o644, content: Buffer.from('b') },
    ]);
    const upper = await layer('upper.tar.gz', [
      { path: 'etc/.wh.old.conf', type: 'file', mode: 0o644, content: Buffer.alloc(0) },
      { path: 'var/cache/.wh..wh..opq', type: 'file', mode: 0o644, content: Buffer.alloc(0) },
      { path: 'var/cache/new', type: 'file', mode: 0o644, content: Buffer.from('new') },
    ]);
    const root = join(dir, 'root');

    await extractLayer(createReadStream(lower), root);
    const result = await extractLayer(createReadStream(upper), root);

    expect(result.whiteouts).toBe(3);
    await expect(lstat(join(root, 'etc/old.conf'))).rejects.toThrow();
    expect(await readFile(join(root, 'etc/keep.conf'), 'utf8')).toBe('keep');
    await expect(lstat(join(root, 'var/cache/a'))).rejects.toThrow();
    await expect(lstat(join(root, 'var/cache/sub'))).rejects.toThrow();
    expect(await readFile(join(root, 'var/cache/new'), 'utf8')).toBe('new');
    await expect(lstat(join(root, 'etc/.wh.old.conf'))).rejects.toThrow();
  });

  async function rawTar(name: string, files: Record<string, string>) {
    const file = join(dir, name);
    const pack = tarStream.pack();
    for (const [path, content] of Object.entries(files)) pack.entry({ name: path, mode: 0o644 }, content);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
    await writeFile(file, Buffer.concat(chunks));
    return file;
  }

  it('refuses an entry whose path climbs out with ".."', async () => {
    const file = await rawTar('evil.tar', { '../escaped': 'x' });

    await expect(extractLayer(createReadStream(file), join(dir, 'root'))).rejects.toThrow('leaves the root');
    await expect(lstat(join(dir, 'escaped'))).rejects.toThrow();
  });

  it('follows symlinks met on the way as if the root were "/", never out to the host', async () => {
    const outside = join(dir, 'outside');
    await mkdir(outside);
    const links = await layer('l.tar.gz', [
      { path: 'link', type: 'symlink', mode: 0o777, linkname: outside },
      { path: 'up', type: 'symlink', mode: 0o777, linkname: '../../../..' },
    ]);
    const attack = await rawTar('attack.tar', { 'link/planted': 'x', 'up/planted2': 'y' });
    const root = join(dir, 'root');

    await extractLayer(createReadStream(links), root);
    await extractLayer(createReadStream(attack), root);

    await expect(lstat(join(outside, 'planted'))).rejects.toThrow();
    expect(await readFile(join(root, outside, 'planted'), 'utf8')).toBe('x');
    expect(await readFile(join(root, 'planted2'), 'utf8')).toBe('y');
  });

  it('replaces a symlink by a file instead of writing through it', async () => {
    const target = join(dir, 'host-file');
    await writeFile(target, 'host');
    const root = join(dir, 'root');
    await mkdir(root);
    await symlink(target, join(root, 'f'));
    const file = await layer('l.tar.gz', [
      { path: 'f', type: 'file', mode: 0o644, content: Buffer.from('image') },
    ]);

    await extractLayer(createReadStream(file), root);

    expect(await readFile(target, 'utf8')).toBe('host');
    expect(await readFile(join(root, 'f'), 'utf8')).toBe('image');
  });
});
