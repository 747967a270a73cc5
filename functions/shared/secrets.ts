import { request } from 'node:http';
import type { SecretRef } from './deployment-config.ts';
import * as z from './zod-mini.ts';

/** A secret's value from its reference: webhook secrets and provider tokens alike. */
export type ResolveSecret = (ref: SecretRef) => Promise<string>;

/**
 * Seconds a secret value is reused before Secrets Manager is asked again: the cache TTL the stack
 * gives the AWS Parameters and Secrets Lambda Extension (`SECRETS_MANAGER_TTL`, at most 300).
 */
export const SECRET_MAX_AGE_SECONDS = 300;

/** The extension's port when `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` is not set. */
export const SECRETS_EXTENSION_DEFAULT_PORT = 2773;

/** Milliseconds a request to the extension may take (it asks Secrets Manager on a cache miss). */
const EXTENSION_TIMEOUT_MS = 10_000;

/** What the extension answers for `GET /secretsmanager/get`: Secrets Manager's GetSecretValue response. */
const SecretValueResponse = z.object({
  SecretString: z.optional(z.string()),
  /** Base64, as GetSecretValue's JSON carries binary secrets. */
  SecretBinary: z.optional(z.string()),
});

/**
 * Secrets on AWS: `{secretName}` through the AWS Parameters and Secrets Lambda Extension (a layer the
 * stack adds to every function that reads secrets: it answers on localhost and caches each value for
 * {@link SECRET_MAX_AGE_SECONDS}), `{env}` from the function's environment, `{value}` as written.
 * The function needs no Secrets Manager client of its own. Errors name the secret, never its value.
 */
export function awsSecretResolver(env: NodeJS.ProcessEnv = process.env): ResolveSecret {
  return async (ref) => {
    if ('value' in ref) return ref.value;
    if ('env' in ref) return fromEnv(env, ref.env);
    const answer = await getFromExtension(env, ref.secretName);
    const parsed = z.safeParse(SecretValueResponse, answer);
    const value = parsed.success
      ? (parsed.data.SecretString ??
        (parsed.data.SecretBinary === undefined
          ? undefined
          : Buffer.from(parsed.data.SecretBinary, 'base64').toString('utf8')))
      : undefined;
    if (value) return value;
    throw new Error(`secret "${ref.secretName}" has no string value`);
  };
}

/**
 * `GET http://localhost:<port>/secretsmanager/get?secretId=<name>` with the function's session token in
 * `X-Aws-Parameters-Secrets-Token`, as the extension requires. node:http rather than fetch: the SDK
 * has loaded it already, where fetch would load undici at the first secret.
 */
function getFromExtension(env: NodeJS.ProcessEnv, secretName: string): Promise<unknown> {
  const port = Number(env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? SECRETS_EXTENSION_DEFAULT_PORT);
  const token = env.AWS_SESSION_TOKEN;
  const what = `secret "${secretName}"`;
  if (!token) return Promise.reject(new Error(`${what}: AWS_SESSION_TOKEN is not set`));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: 'localhost',
        port,
        path: `/secretsmanager/get?secretId=${encodeURIComponent(secretName)}`,
        headers: { 'X-Aws-Parameters-Secrets-Token': token },
        timeout: EXTENSION_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            // The extension's message names the secret and Secrets Manager's error, never a value.
            reject(
              new Error(`${what}: the secrets extension answered ${res.statusCode}: ${text.slice(0, 300)}`),
            );
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`${what}: the secrets extension answered with something other than JSON`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${EXTENSION_TIMEOUT_MS} ms`)));
    req.on('error', (error) =>
      reject(
        new Error(
          `${what}: the AWS Parameters and Secrets Lambda Extension on localhost:${port} could not be reached (${error.message}); is its layer attached?`,
        ),
      ),
    );
    req.end();
  });
}

/**
 * Secrets on one machine: `{value}` and `{env}` as on AWS; a `{secretName}` (which only Secrets
 * Manager could answer) falls back to `STEPLINE_WEBHOOK_SECRET`.
 */
export function localSecretResolver(env: NodeJS.ProcessEnv = process.env): ResolveSecret {
  return async (ref) => {
    if ('value' in ref) return ref.value;
    if ('env' in ref) return fromEnv(env, ref.env);
    const fallback = env.STEPLINE_WEBHOOK_SECRET;
    if (fallback) return fallback;
    throw new Error(
      `secret "${ref.secretName}" lives in Secrets Manager; locally give the webhook secret as {"value": …}, {"env": …} or STEPLINE_WEBHOOK_SECRET`,
    );
  };
}

function fromEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} holding a secret is not set`);
  return value;
}
