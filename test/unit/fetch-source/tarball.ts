import { gzipSync } from 'node:zlib';
import { Header, list } from 'tar';

export interface TarEntry {
  path: string;
  /** File content; omit for a directory. */
  content?: string;
  type?: 'File' | 'Directory' | 'SymbolicLink';
  linkpath?: string;
}

/** A `.tar.gz` with exactly these entries, paths as given (no normalization), as a provider might send. */
export function makeTarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.content ?? '');
    const type = entry.type ?? (entry.content === undefined ? 'Directory' : 'File');
    const header = new Header({
      path: entry.path,
      type,
      size: type === 'File' ? body.length : 0,
      mode: type === 'Directory' ? 0o755 : 0o644,
      mtime: new Date('2024-01-01T00:00:00Z'),
      ...(entry.linkpath === undefined ? {} : { linkpath: entry.linkpath }),
    });
    header.encode();
    blocks.push(header.block!);
    if (type === 'File' && body.length > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** Paths and contents of every entry in a `.tar.gz`. */
export async function readTarGz(archive: Buffer): Promise<Map<string, string | null>> {
  const entries = new Map<string, string | null>();
  const pending: Promise<void>[] = [];
  const parser = list({
    onReadEntry(entry) {
      if (entry.type !== 'File') {
        entries.set(entry.path, null);
        entry.resume();
        return;
      }
      pending.push(
        entry.concat().then((data) => {
          entries.set(entry.path, data.toString('utf8'));
        }),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    parser.end(archive);
  });
  await Promise.all(pending);
  return entries;
}
