import type { SecretRef } from './deployment-config.ts';

/** A secret's value from its reference: webhook secrets and provider tokens alike. */
export type ResolveSecret = (ref: SecretRef) => Promise<string>;

/** Seconds a secret value is reused between invocations before Secrets Manager is asked again. */
export const SECRET_MAX_AGE_SECONDS = 300;

/**
 * Secrets on AWS: `{secretName}` from Secrets Manager (cached between invocations for
 * {@link SECRET_MAX_AGE_SECONDS}), `{env}` from the function's environment, `{value}` as written.
 * Errors name the secret, never its value.
 */
export function awsSecretResolver(env: NodeJS.ProcessEnv = process.env): ResolveSecret {
  return async (ref) => {
    if ('value' in ref) return ref.value;
    if ('env' in ref) return fromEnv(env, ref.env);
    // Loaded at the first named secret, not at cold start: a function whose secrets are all
    // `{env}`/`{value}` (or that fails before reading one) never pays for the client.
    const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets');
    const value = await getSecret(ref.secretName, { maxAge: SECRET_MAX_AGE_SECONDS });
    if (typeof value === 'string' && value !== '') return value;
    if (value instanceof Uint8Array && value.length > 0) return Buffer.from(value).toString('utf8');
    throw new Error(`secret "${ref.secretName}" has no string value`);
  };
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
