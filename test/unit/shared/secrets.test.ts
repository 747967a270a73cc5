import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSecretsExtension, startLocalSecretsExtension } from '#local/secrets-extension.ts';
import { awsSecretResolver, localSecretResolver } from '#shared/secrets.ts';

describe('localSecretResolver', () => {
  it('returns a literal value', async () => {
    await expect(localSecretResolver({})({ value: 'v' })).resolves.toBe('v');
  });

  it('reads an environment variable', async () => {
    await expect(localSecretResolver({ HOOK: 'from-env' })({ env: 'HOOK' })).resolves.toBe('from-env');
  });

  it('falls back to STEPLINE_WEBHOOK_SECRET for a Secrets Manager name', async () => {
    await expect(
      localSecretResolver({ STEPLINE_WEBHOOK_SECRET: 'fallback' })({ secretName: 'prod/hook' }),
    ).resolves.toBe('fallback');
  });

  it('says how to provide a Secrets Manager secret locally', async () => {
    await expect(localSecretResolver({})({ secretName: 'prod/hook' })).rejects.toThrow(
      /STEPLINE_WEBHOOK_SECRET/,
    );
  });

  it('names an unset environment variable', async () => {
    await expect(localSecretResolver({})({ env: 'HOOK' })).rejects.toThrow('environment variable HOOK');
  });
});

describe('awsSecretResolver', () => {
  // The Parameters and Secrets extension's HTTP API, answered on loopback as the Lambda's layer would.
  const stored: Record<string, string> = { 'prod/token': 'tok', 'prod/empty': '' };
  let extension: LocalSecretsExtension;
  beforeAll(async () => {
    extension = await startLocalSecretsExtension({
      resolveSecret: async (ref) => {
        const value = 'secretName' in ref ? stored[ref.secretName] : undefined;
        if (value === undefined) throw new Error('Secrets Manager cannot find the specified secret.');
        return value;
      },
    });
  });
  afterAll(async () => {
    await extension.close();
  });

  it('returns a literal value', async () => {
    await expect(awsSecretResolver({})({ value: 'v' })).resolves.toBe('v');
  });

  it('reads an environment variable', async () => {
    await expect(awsSecretResolver({ TOKEN: 'from-env' })({ env: 'TOKEN' })).resolves.toBe('from-env');
  });

  it('names an unset environment variable', async () => {
    await expect(awsSecretResolver({})({ env: 'TOKEN' })).rejects.toThrow(
      'environment variable TOKEN holding a secret is not set',
    );
  });

  it('reads a named secret from the Parameters and Secrets extension with the session token', async () => {
    await expect(awsSecretResolver(extension.env)({ secretName: 'prod/token' })).resolves.toBe('tok');
  });

  it("names a secret the extension cannot find, with the extension's reason", async () => {
    await expect(awsSecretResolver(extension.env)({ secretName: 'prod/missing' })).rejects.toThrow(
      /secret "prod\/missing": the secrets extension answered 400: .*cannot find/,
    );
  });

  it("is refused by the extension without the function's session token", async () => {
    const env = { ...extension.env, AWS_SESSION_TOKEN: 'someone-else' };
    await expect(awsSecretResolver(env)({ secretName: 'prod/token' })).rejects.toThrow(
      'secret "prod/token": the secrets extension answered 401',
    );
  });

  it('names a secret without a string value', async () => {
    await expect(awsSecretResolver(extension.env)({ secretName: 'prod/empty' })).rejects.toThrow(
      'secret "prod/empty" has no string value',
    );
  });

  it('says the extension is missing when nothing answers on its port', async () => {
    const closed = await startLocalSecretsExtension({ resolveSecret: async () => 'x' });
    await closed.close();
    await expect(awsSecretResolver(closed.env)({ secretName: 'prod/token' })).rejects.toThrow(
      /secret "prod\/token": the AWS Parameters and Secrets Lambda Extension on localhost:\d+ could not be reached .*layer attached/,
    );
  });
});
