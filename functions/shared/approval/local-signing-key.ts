import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { dataDirSecret } from '#shared/data-dir-secret.ts';

const approvalKeyFileName = 'approval-signing-key';

/** File that keeps the local key approval links are signed with (mode 0600). */
export const approvalKeyFile = (dataDir: string) => join(resolve(dataDir), approvalKeyFileName);

/**
 * The local runtime's signing key for approval links: generated on first use and kept owner-only in
 * the data directory, so every `stepline` process on this data directory (and the request-approval
 * and approval-api functions it runs, through `STEPLINE_DATA_DIR`) signs and checks with the same
 * key. On AWS the key is a Secrets Manager secret.
 */
export function localApprovalSigningKey(dataDir: string): string {
  return dataDirSecret(dataDir, approvalKeyFileName, () => randomBytes(32).toString('hex'));
}
