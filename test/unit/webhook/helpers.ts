import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { type MockInstance, vi } from 'vitest';
import { hmacSha256Hex } from '#functions/webhook/signature.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';

export const fixturesDir = new URL('../../fixtures/webhooks/', import.meta.url);

/** A fixture's exact bytes, as a provider would send them. */
export function fixture(name: string): Buffer {
  return readFileSync(new URL(name, fixturesDir));
}

/** A fixture parsed, to derive variants from (they are re-serialized and signed afresh). */
export function fixtureJson(name: string): Record<string, unknown> {
  return JSON.parse(fixture(name).toString('utf8')) as Record<string, unknown>;
}

export const secrets = {
  github: 'gh-secret-9f1c3b7e',
  gitlab: 'gl-token-4d2a8c6f',
  gitea: 'gt-secret-7b5e1a9d',
  bitbucket: 'bb-secret-2c8f6e0a',
  other: 'other-secret-5a3d9b1f',
} as const;

export const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:stepline-pipeline';

export const config = DeploymentConfig.parse({
  repositories: [
    {
      provider: 'github',
      name: 'Codertocat/Hello-World',
      webhookSecret: { value: secrets.github },
      triggers: { branches: ['master', 'main'], tags: ['v*'] },
    },
    { provider: 'github', name: 'acme/other', webhookSecret: { value: secrets.other } },
    {
      provider: 'gitlab',
      name: 'mike/diaspora',
      webhookSecret: { value: secrets.gitlab },
      triggers: { branches: ['master'] },
    },
    {
      provider: 'gitlab',
      name: 'jsmith/*',
      webhookSecret: { value: secrets.gitlab },
      triggers: { branches: [], tags: ['v*'] },
    },
    {
      provider: 'gitea',
      name: 'gitea/webhooks',
      webhookSecret: { value: secrets.gitea },
      triggers: { branches: ['develop'] },
    },
    { provider: 'bitbucket', name: 'teamawesome/ship-it', webhookSecret: { value: secrets.bitbucket } },
  ],
});

type HeaderSet = Record<string, string>;

/** The headers each provider sends with a delivery, signed the way that provider signs. */
export const sign = {
  github(
    body: Buffer,
    secret: string = secrets.github,
    event = 'push',
    delivery = '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  ): HeaderSet {
    return {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${hmacSha256Hex(secret, body)}`,
    };
  },
  gitlab(
    _body: Buffer,
    secret: string = secrets.gitlab,
    event = 'Push Hook',
    delivery = '13792a34-cac6-4fda-95a8-c58e00a3954e',
  ): HeaderSet {
    return {
      'content-type': 'application/json',
      'x-gitlab-event': event,
      'x-gitlab-event-uuid': delivery,
      'x-gitlab-token': secret,
    };
  },
  gitea(
    body: Buffer,
    secret: string = secrets.gitea,
    event = 'push',
    delivery = 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
  ): HeaderSet {
    return {
      'content-type': 'application/json',
      'x-gitea-event': event,
      'x-gitea-delivery': delivery,
      'x-gitea-signature': hmacSha256Hex(secret, body),
    };
  },
  forgejo(
    body: Buffer,
    secret: string = secrets.gitea,
    event = 'push',
    delivery = 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
  ): HeaderSet {
    return {
      'content-type': 'application/json',
      'x-forgejo-event': event,
      'x-forgejo-delivery': delivery,
      'x-forgejo-signature': hmacSha256Hex(secret, body),
    };
  },
  bitbucket(
    body: Buffer,
    secret: string = secrets.bitbucket,
    event = 'repo:push',
    delivery = '{0c2a5e64-8b5f-4b43-a1c4-5d0c0e9a7f11}',
  ): HeaderSet {
    return {
      'content-type': 'application/json',
      'x-event-key': event,
      'x-request-uuid': delivery,
      'x-hub-signature': `sha256=${hmacSha256Hex(secret, body)}`,
    };
  },
};

/** Everything written to stdout and stderr (where Powertools loggers write) until `restore()`. */
export function captureOutput(): { text(): string; restore(): void } {
  const chunks: string[] = [];
  const spies: MockInstance[] = [process.stdout, process.stderr].map((stream) =>
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return true;
    }) as never),
  );
  return {
    text: () => chunks.join(''),
    restore: () => {
      for (const spy of spies) spy.mockRestore();
    },
  };
}

export function testLogger(): Logger {
  return new Logger({ serviceName: 'stepline-webhook-test', logLevel: 'DEBUG' });
}
