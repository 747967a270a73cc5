import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { constantTimeEqual } from '#local/http/constant-time.ts';
import { dataDirSecret } from '#shared/data-dir-secret.ts';

const consoleTokenFileName = 'console-token';

/** File that keeps the console's access token (mode 0600). */
export const consoleTokenFile = (dataDir: string) => join(resolve(dataDir), consoleTokenFileName);

/**
 * The console's access token: generated on first use and kept owner-only in the data directory, so
 * only this user (who can read the directory) can open the console or drive it; a build, a service
 * or another user on this machine cannot. `STEPLINE_CONSOLE_TOKEN` replaces it when set.
 */
export function consoleToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.STEPLINE_CONSOLE_TOKEN) return env.STEPLINE_CONSOLE_TOKEN;
  return dataDirSecret(dataDir, consoleTokenFileName, () => randomBytes(24).toString('base64url'));
}

/** Whether `given` is `token`, compared in constant time. */
export function tokenMatches(token: string, given: string | undefined): boolean {
  return given !== undefined && constantTimeEqual(token, given);
}
