import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type RawRequest, receivePush, type WebhookDeps } from '#functions/webhook/receive-push.ts';
import { hmacSha256Hex } from '#functions/webhook/signature.ts';
import { PushEvent } from '#shared/push-event.ts';
import { config, fixtureJson, STATE_MACHINE_ARN, secrets, sign, testLogger } from './helpers.ts';

const logger = testLogger();
logger.setLogLevel('SILENT');

function deps(send: WebhookDeps['sfn']['send']): WebhookDeps {
  return {
    sfn: { send },
    stateMachineArn: STATE_MACHINE_ARN,
    config,
    resolveSecret: async (ref) => ('value' in ref ? ref.value : ''),
    logger,
  };
}

function fakeSend() {
  return vi.fn(async (command: { input: { name?: string } }) => ({
    executionArn: `arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:${command.input.name}`,
    startDate: new Date(),
  })) as unknown as WebhookDeps['sfn']['send'] & ReturnType<typeof vi.fn>;
}

const headerNames = [
  'x-hub-signature-256',
  'x-hub-signature',
  'x-github-event',
  'x-github-delivery',
  'x-gitlab-token',
  'x-gitlab-event',
  'x-gitlab-event-uuid',
  'x-gitea-signature',
  'x-gitea-event',
  'x-gitea-delivery',
  'x-forgejo-signature',
  'x-forgejo-event',
  'x-forgejo-delivery',
  'x-event-key',
  'x-request-uuid',
  'content-type',
];

const provider = fc.oneof(
  fc.constantFrom('github', 'gitlab', 'gitea', 'bitbucket'),
  fc.string({ maxLength: 12 }),
);
const headers = fc.dictionary(
  fc.constantFrom(...headerNames),
  fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
);
const body = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
  fc.json({ maxDepth: 4 }).map((text) => Buffer.from(text)),
  fc.string({ maxLength: 512 }).map((text) => Buffer.from(text)),
);

/** A JSON value, with nulls, numbers and strings where fields are expected. */
const junk = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
);

/** Replace one leaf of a documented payload (found by a path of keys) with junk, or drop it. */
function mutate(value: unknown, path: number[], replacement: unknown, drop: boolean): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[path[0]! % keys.length]!;
  const copy: Record<string, unknown> = Array.isArray(value)
    ? ([...value] as never)
    : { ...(value as object) };
  if (drop && path.length === 1) {
    delete copy[key];
    return copy;
  }
  copy[key] = mutate((value as Record<string, unknown>)[key], path.slice(1), replacement, drop);
  return copy;
}

const fixtures = {
  github: 'github-push.json',
  gitlab: 'gitlab-push.json',
  gitea: 'gitea-push.json',
  bitbucket: 'bitbucket-push.json',
} as const;

describe('receivePush under arbitrary input', () => {
  it('never answers 5xx and never starts a run for unsigned or wrongly signed deliveries', async () => {
    await fc.assert(
      fc.asyncProperty(provider, headers, body, async (p, h, b) => {
        const send = fakeSend();
        const req: RawRequest = { provider: p, headers: h, body: b };

        const reply = await receivePush(req, deps(send));

        expect(reply.statusCode).toBeGreaterThanOrEqual(200);
        expect(reply.statusCode).toBeLessThan(500);
        expect(send).not.toHaveBeenCalled();
      }),
      { numRuns: 300 },
    );
  });

  it('never answers 5xx for correctly signed bodies of any shape, and starts runs only with valid input', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('github', 'gitlab', 'gitea', 'bitbucket') as fc.Arbitrary<keyof typeof fixtures>,
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        junk,
        fc.boolean(),
        fc.option(body, { nil: undefined }),
        async (p, path, replacement, drop, raw) => {
          const send = fakeSend();
          const payload =
            raw ?? Buffer.from(JSON.stringify(mutate(fixtureJson(fixtures[p]), path, replacement, drop)));
          const req: RawRequest = { provider: p, headers: sign[p](payload), body: payload };

          const reply = await receivePush(req, deps(send));

          expect([200, 202, 400, 401, 404]).toContain(reply.statusCode);
          if (reply.statusCode === 202) {
            expect(send).toHaveBeenCalledTimes(1);
            const input = (send.mock.calls[0]![0] as { input: { input: string } }).input.input;
            expect(PushEvent.safeParse(JSON.parse(input)).success).toBe(true);
          } else {
            expect(send).not.toHaveBeenCalled();
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('never starts a run when the signature header is altered in any way', async () => {
    const payload = Buffer.from(JSON.stringify(fixtureJson('github-push.json')));
    const good = `sha256=${hmacSha256Hex(secrets.github, payload)}`;
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 80 }).filter((s) => s.trim().toLowerCase() !== good),
        async (signature) => {
          const send = fakeSend();
          const req: RawRequest = {
            provider: 'github',
            headers: { ...sign.github(payload), 'x-hub-signature-256': signature },
            body: payload,
          };

          const reply = await receivePush(req, deps(send));

          expect(reply.statusCode).toBe(401);
          expect(send).not.toHaveBeenCalled();
        },
      ),
      { numRuns: 200 },
    );
  });
});
