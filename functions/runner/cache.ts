import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CacheKey {
  /** Hex SHA-256 naming the cache archive. */
  key: string;
  /** Key files that did not exist; their absence is part of the key, so it stays deterministic. */
  missing: string[];
}

/** The runner's platform, part of every key: a cache built on one OS or CPU is useless on another. */
export const runnerPlatform = `${process.platform}-${process.arch}`;

/**
 * Hashes the named key files' contents together with the stage and the platform. Each file
 * contributes its name and its own digest, so moving bytes between files changes the key.
 */
export async function computeCacheKey(
  workdir: string,
  stage: string,
  keyFiles: readonly string[],
  platform: string = runnerPlatform,
): Promise<CacheKey> {
  const hash = createHash('sha256').update(`stepline-cache-v1\0${stage}\0${platform}\0`);
  const missing: string[] = [];
  for (const file of keyFiles) {
    const content = await readFile(join(workdir, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined;
      throw error;
    });
    if (content === undefined) missing.push(file);
    const digest = content === undefined ? 'missing' : createHash('sha256').update(content).digest('hex');
    hash.update(`${file}\0${digest}\0`);
  }
  return { key: hash.digest('hex'), missing };
}
