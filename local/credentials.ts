import { randomBytes, randomInt } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import type { AccessKey } from '#local/http/sigv4.ts';

/**
 * The access key of one data directory: every local stand-in (S3, Step Functions, ECS, the
 * registry's ECR API, SES) accepts only requests signed with it (SigV4), and the runtime's own
 * clients, the runner and the handlers sign with it, as a task role's credentials would.
 */
export type LocalCredentials = AccessKey;

/** `<data>/credentials.json`, mode 0600. */
export const credentialsFile = (dataDir: string) => join(dataDir, 'credentials.json');

const Stored = z.object({
  accessKeyId: z.string().regex(/^[A-Za-z0-9]{1,128}$/, 'an access key id is 1-128 letters and digits'),
  secretAccessKey: z.string().min(1),
});

const keyIdAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A new key pair shaped like AWS's: a 20-character `STPL…` id and a 40-character secret. */
export function generateCredentials(): LocalCredentials {
  let id = 'STPL';
  for (let i = 0; i < 16; i++) id += keyIdAlphabet[randomInt(keyIdAlphabet.length)];
  return { accessKeyId: id, secretAccessKey: randomBytes(30).toString('base64') };
}

async function readStored(file: string): Promise<LocalCredentials> {
  const text = await readFile(file, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON: delete it to have new credentials generated at the next start`);
  }
  const parsed = Stored.safeParse(json);
  if (!parsed.success)
    throw new Error(
      `${file}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`).join('; ')}; delete it to have new credentials generated at the next start`,
    );
  return parsed.data;
}

/**
 * The data directory's credentials: read from `<data>/credentials.json`, or generated into it (mode
 * 0600, created exclusively, so two processes starting at once end up with one key) when it is not
 * there. A file that others could read is made owner-only again.
 */
export async function ensureLocalCredentials(dataDir: string): Promise<LocalCredentials> {
  const file = credentialsFile(dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, `${JSON.stringify(generateCredentials(), null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return readStored(file);
}

/**
 * The credentials of a data directory whose runtime runs (or ran): for `stepline` commands that
 * talk to a running `serve`. Throws, naming the file, when there are none yet.
 */
export async function readLocalCredentials(dataDir: string): Promise<LocalCredentials> {
  const file = credentialsFile(dataDir);
  try {
    return await readStored(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(
        `${file} does not exist: no runtime has started on ${dataDir} yet (stepline serve makes it)`,
      );
    throw error;
  }
}

/** The environment variables that give a process (the runner, a handler) the credentials. */
export function credentialsEnv(credentials: LocalCredentials): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey };
}
