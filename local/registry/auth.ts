import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The user name ECR's authorization tokens carry, and the only one the local registry accepts. */
export const registryUser = 'AWS';
export const authRealm = 'stepline-local';

/** File (mode 0600) that keeps the registry's push password for this data directory. */
export const passwordFile = (registryDir: string) => join(registryDir, '.password');

/** The registry's push password: generated on first use, then read back from `dir`. */
export async function registryPassword(registryDir: string): Promise<string> {
  const file = passwordFile(registryDir);
  const existing = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
  if (existing) return existing;
  await mkdir(registryDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  try {
    // 'wx' when there is none, so two processes starting together end up with one password.
    await writeFile(file, `${password}\n`, { mode: 0o600, flag: existing === undefined ? 'wx' : 'w' });
    return password;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await readFile(file, 'utf8')).trim();
  }
}

/** Whether an `Authorization` header carries Basic credentials `AWS:<password>`. */
export function isAuthorized(header: string | undefined, password: string): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1], 'base64');
  const wanted = Buffer.from(`${registryUser}:${password}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** The token ECR's GetAuthorizationToken returns: base64 of `AWS:<password>`. */
export function authorizationToken(password: string): string {
  return Buffer.from(`${registryUser}:${password}`).toString('base64');
}

/**
 * Writes a containers-auth.json (mode 0600) that gives podman, skopeo and buildah the registry's
 * token for `host` (`127.0.0.1:<port>`); returns its path.
 */
export async function writeRegistryAuthFile(file: string, host: string, password: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const auths = { auths: { [host]: { auth: authorizationToken(password) } } };
  await writeFile(file, `${JSON.stringify(auths, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
