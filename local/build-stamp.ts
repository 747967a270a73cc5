import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { version as esbuildVersion } from 'esbuild';

/** What a bundle was built from: rebuilt when any input file, the options or esbuild changed. */
interface BuildStamp {
  key: string;
  inputs: Record<string, { size: number; mtimeMs: number }>;
}

/** A build's key: its options and esbuild's version, hashed (a change of either rebuilds). */
export function buildKey(options: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify({ options, esbuild: esbuildVersion }))
    .digest('hex');
}

/**
 * Records what `outfile` was built from: `key` ({@link buildKey})
 * and each input's size and mtime (esbuild's metafile inputs, relative to `root`).
 */
export async function writeStamp(
  stampFile: string,
  key: string,
  inputs: readonly string[],
  root: string,
): Promise<void> {
  const stamp: BuildStamp = { key, inputs: {} };
  for (const input of inputs) {
    const path = resolve(root, input);
    const info = await stat(path).catch(() => undefined);
    if (info) stamp.inputs[path] = { size: info.size, mtimeMs: info.mtimeMs };
  }
  await mkdir(join(stampFile, '..'), { recursive: true });
  await writeFile(stampFile, `${JSON.stringify(stamp)}\n`);
}

/** Whether `outfile` exists and was built with `key` from inputs that have not changed since. */
export async function upToDate(stampFile: string, outfile: string, key: string): Promise<boolean> {
  let stamp: BuildStamp;
  try {
    stamp = JSON.parse(await readFile(stampFile, 'utf8')) as BuildStamp;
    await stat(outfile);
  } catch {
    return false;
  }
  if (stamp.key !== key || Object.keys(stamp.inputs ?? {}).length === 0) return false;
  for (const [path, was] of Object.entries(stamp.inputs)) {
    const info = await stat(path).catch(() => undefined);
    if (!info || info.size !== was.size || info.mtimeMs !== was.mtimeMs) return false;
  }
  return true;
}
