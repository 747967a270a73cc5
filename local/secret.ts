import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { dataDirSecret } from '#shared/data-dir-secret.ts';

const secretFileName = 'webhook-secret';

/** File that keeps the generated local webhook secret (mode 0600). */
export const secretFile = (dataDir: string) => join(resolve(dataDir), secretFileName);

/**
 * The local webhook secret: `STEPLINE_WEBHOOK_SECRET` when set, else one generated on first use
 * and kept in the data directory, so `stepline serve`, git hooks and curl users share it.
 */
export function localWebhookSecret(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.STEPLINE_WEBHOOK_SECRET) return env.STEPLINE_WEBHOOK_SECRET;
  return dataDirSecret(dataDir, secretFileName, () => randomBytes(32).toString('hex'));
}
