import { describe, expect, it } from 'vitest';
import { localSecretResolver } from '#functions/webhook/resolve-secret.ts';

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
