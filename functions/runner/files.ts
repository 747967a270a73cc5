import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import picomatch from 'picomatch';

export interface FoundFile {
  /** Path relative to the root, with `/` separators. */
  path: string;
  bytes: number;
}

/**
 * Files under `root` matching any of the picomatch `globs` (dotfiles included), sorted. Only the
 * globs' static bases are walked, and symlinked directories are not followed.
 */
export async function findFiles(root: string, globs: readonly string[]): Promise<FoundFile[]> {
  if (globs.length === 0) return [];
  const isMatch = picomatch([...globs], { dot: true });
  const bases = [...new Set(globs.map((glob) => picomatch.scan(glob).base))];
  const found = new Map<string, number>();
  for (const base of bases) await walk(root, base, isMatch, found);
  return [...found.entries()]
    .map(([path, bytes]) => ({ path, bytes }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function walk(
  root: string,
  relative: string,
  isMatch: (path: string) => boolean,
  found: Map<string, number>,
): Promise<void> {
  const absolute = relative === '' ? root : join(root, relative);
  const info = await lstat(absolute).catch(() => undefined);
  if (!info) return;
  if (!info.isDirectory()) {
    if (isMatch(relative)) found.set(relative, info.size);
    return;
  }
  let entries: Dirent[];
  try {
    entries = await readdir(absolute, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (entry.isDirectory()) await walk(root, child, isMatch, found);
    else if (isMatch(child)) found.set(child, (await lstat(join(root, child))).size);
  }
}
