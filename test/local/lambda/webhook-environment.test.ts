import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LambdaEnvironmentOptions, lambdaEnvironment } from '#local/lambda/environment.ts';
import { type LocalSecretsExtension, startLocalSecretsExtension } from '#local/secrets-extension.ts';
import { lambdaCompute } from '#shared/compute.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { awsSecretResolver } from '#shared/secrets.ts';

let extension: LocalSecretsExtension;
let options: LambdaEnvironmentOptions;

beforeAll(async () => {
  process.env.STEPLINE_TEST_HOOK_SECRET = 'from-serve-env';
  extension = await startLocalSecretsExtension({
    resolveSecret: async (ref) => ('secretName' in ref ? `value-of-${ref.secretName}` : ''),
  });
  const unused = 'http://127.0.0.1:9';
  options = {
    dataDir: '/tmp/stepline-unused',
    config: DeploymentConfig.parse({
      repositories: [
        { provider: 'github', name: 'acme/named', webhookSecret: { secretName: 'acme/hook' } },
        { provider: 'github', name: 'acme/env', webhookSecret: { env: 'STEPLINE_TEST_HOOK_SECRET' } },
      ],
    }),
    bucket: 'b',
    region: 'us-east-1',
    endpoints: { s3: unused, sfn: () => unused, ses: () => unused, approvalBaseUrl: () => unused },
    credentials: () => ({ accessKeyId: 'STPLTESTTESTTESTTEST', secretAccessKey: 'x'.repeat(30) }),
    stateMachineArn: () => 'arn:aws:states:us-east-1:000000000000:stateMachine:stepline-pipeline',
    secretsExtension: extension,
  };
});

afterAll(async () => {
  delete process.env.STEPLINE_TEST_HOOK_SECRET;
  await extension.close();
});

const environmentOf = (key: 'webhook' | 'approvalApi' | 'fetchSource') =>
  lambdaEnvironment(key, lambdaCompute[key], `/b/${lambdaCompute[key].folder}/index.mjs`, options);

describe('the local webhook’s environment', () => {
  it('gives the webhook the secrets extension’s port and token, with which its resolver reads a named secret', async () => {
    const env = environmentOf('webhook');

    expect(env).toMatchObject({
      PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(extension.port),
      AWS_SESSION_TOKEN: extension.token,
      STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:stepline-pipeline',
    });
    await expect(awsSecretResolver(env)({ secretName: 'acme/hook' })).resolves.toBe('value-of-acme/hook');
  });

  it('gives the webhook the variables its {"env"} secrets name, from the serve process', async () => {
    const env = environmentOf('webhook');

    await expect(awsSecretResolver(env)({ env: 'STEPLINE_TEST_HOOK_SECRET' })).resolves.toBe(
      'from-serve-env',
    );
    expect(environmentOf('approvalApi')).not.toHaveProperty('STEPLINE_TEST_HOOK_SECRET');
  });

  it('gives no other function the extension’s token, so they cannot read the webhook’s secrets', async () => {
    for (const key of ['approvalApi', 'fetchSource'] as const) {
      const env = environmentOf(key);
      expect(env).not.toHaveProperty('AWS_SESSION_TOKEN');
      await expect(
        awsSecretResolver({ ...env, PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(extension.port) })({
          secretName: 'acme/hook',
        }),
      ).rejects.toThrow('AWS_SESSION_TOKEN is not set');
    }
  });

  it('has the extension stand-in listen on loopback only', () => {
    expect((extension.server.address() as AddressInfo).address).toBe('127.0.0.1');
  });
});
