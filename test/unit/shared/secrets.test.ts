import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
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
  const secretsManager = mockClient(SecretsManagerClient);

  afterEach(() => {
    secretsManager.reset();
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

  it('reads a named secret from Secrets Manager', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: 'prod/token' }).resolves({ SecretString: 'tok' });

    await expect(awsSecretResolver({})({ secretName: 'prod/token' })).resolves.toBe('tok');
  });

  it('names a Secrets Manager secret without a string value', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: 'prod/empty' }).resolves({ SecretString: '' });

    await expect(awsSecretResolver({})({ secretName: 'prod/empty' })).rejects.toThrow(
      'secret "prod/empty" has no string value',
    );
  });
});
