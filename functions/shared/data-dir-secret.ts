import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * A secret of the local runtime kept in `<dataDir>/<name>` (mode 0600, the directory 0700): read
 * when the file is there, else made by `generate` and written with `wx`, so of two processes
 * creating it at once one writes and both then read the same value.
 */
export function dataDirSecret(dataDir: string, name: string, generate: () => string): string {
  const file = join(resolve(dataDir), name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(resolve(dataDir), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${generate()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(file, 'utf8').trim();
}
