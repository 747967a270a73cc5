import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** File that keeps the console's access token (mode 0600). */
export const consoleTokenFile = (dataDir: string) => join(resolve(dataDir), 'console-token');

/**
 * The console's access token: generated on first use and kept owner-only in the data directory, so
 * only this user (who can read the directory) can open the console or drive it; a build, a service
 * or another user on this machine cannot. `STEPLINE_CONSOLE_TOKEN` replaces it when set.
 */
export function consoleToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.STEPLINE_CONSOLE_TOKEN) return env.STEPLINE_CONSOLE_TOKEN;
  const file = consoleTokenFile(dataDir);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(resolve(dataDir), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  try {
    // `wx`: of two processes creating it at once, one writes and both then read the same token.
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(file, 'utf8').trim();
}

/** Whether `given` is `token`, compared in constant time. */
export function tokenMatches(token: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(token);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
