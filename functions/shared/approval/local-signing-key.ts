import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** File that keeps the local key approval links are signed with (mode 0600). */
export const approvalKeyFile = (dataDir: string) => join(resolve(dataDir), 'approval-signing-key');

/**
 * The local runtime's signing key for approval links: generated on first use and kept owner-only in
 * the data directory, so every `stepline` process on this data directory (and the request-approval
 * and approval-api functions it runs, through `STEPLINE_DATA_DIR`) signs and checks with the same
 * key. On AWS the key is a Secrets Manager secret.
 */
export function localApprovalSigningKey(dataDir: string): string {
  const file = approvalKeyFile(dataDir);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(resolve(dataDir), { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('hex');
  try {
    // `wx`: of two processes creating it at once, one writes and both then read the same key.
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readFileSync(file, 'utf8').trim();
}
