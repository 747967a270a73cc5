import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** File that keeps the generated local webhook secret (mode 0600). */
export const secretFile = (dataDir: string) => join(resolve(dataDir), 'webhook-secret');

/**
 * The local webhook secret: `STEPLINE_WEBHOOK_SECRET` when set, else one generated on first use
 * and kept in the data directory, so `stepline serve`, git hooks and curl users share it.
 */
export function localWebhookSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.STEPLINE_WEBHOOK_SECRET) return env.STEPLINE_WEBHOOK_SECRET;
  const file = secretFile(dataDir);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(resolve(dataDir), { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
