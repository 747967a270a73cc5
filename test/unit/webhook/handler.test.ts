import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHandler, toRawRequest } from '#functions/webhook/create-handler.ts';
import { MAX_BODY_BYTES } from '#functions/webhook/receive-push.ts';
import { config, fixture, STATE_MACHINE_ARN, secrets, sign, testLogger } from './helpers.ts';

function silentLogger() {
  const logger = testLogger();
  logger.setLogLevel('SILENT');
  return logger;
}

const sfnMock = mockClient(SFNClient);

/** Lambda's request payload limit for a synchronous invoke (6 MB), as API Gateway invokes the webhook. */
const lambdaSyncInvokeLimit = 6 * 1024 * 1024;

const context = {
  functionName: 'stepline-webhook',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:stepline-webhook',
  memoryLimitInMB: '256',
  functionVersion: '$LATEST',
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

function apiGatewayEvent(
  provider: string,
  body: Buffer,
  headers: Record<string, string>,
  base64: boolean,
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{provider}',
    rawPath: `/webhooks/${provider}`,
    rawQueryString: '',
    headers,
    pathParameters: { provider },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: {
        method: 'POST',
        path: `/webhooks/${provider}`,
        protocol: 'HTTP/1.1',
        sourceIp: '192.0.2.1',
        userAgent: 'GitHub-Hookshot/abc',
      },
      requestId: 'id',
      routeKey: 'POST /webhooks/{provider}',
      stage: '$default',
      time: '12/Mar/2024:19:03:58 +0000',
      timeEpoch: 1_710_270_238_000,
    },
    body: base64 ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: base64,
  };
}

beforeEach(() => {
  sfnMock.on(StartExecutionCommand).resolves({
    executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:x',
    startDate: new Date(),
  });
});

afterEach(() => {
  sfnMock.reset();
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('webhook Lambda handler', () => {
  it('verifies the signature over the decoded bytes of a base64-encoded body', async () => {
    const body = fixture('github-push.json');
    const handler = createHandler({
      sfn: new SFNClient({ region: 'eu-west-1' }),
      stateMachineArn: STATE_MACHINE_ARN,
      config,
      resolveSecret: async () => secrets.github,
      logger: silentLogger(),
    });

    const result = await handler(apiGatewayEvent('github', body, sign.github(body), true), context);

    expect(result.statusCode).toBe(202);
    expect(result.headers).toEqual({ 'content-type': 'application/json' });
    expect(JSON.parse(result.body!)).toMatchObject({
      executionName: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
    });
  });

  it('accepts bodies only up to a size whose API Gateway event a synchronous Lambda invoke can carry', () => {
    // A push payload at the limit: the fixture's commits repeated, as a long push would list them.
    const payload = JSON.parse(fixture('github-push.json').toString('utf8')) as { commits: unknown[] };
    const commit = JSON.stringify(payload.commits[0]);
    const count = Math.floor((MAX_BODY_BYTES - fixture('github-push.json').length) / (commit.length + 1));
    payload.commits = Array.from({ length: count }, () => payload.commits[0]);
    const body = Buffer.from(JSON.stringify(payload));
    const event = apiGatewayEvent(
      'github',
      body,
      { ...sign.github(body), 'user-agent': 'GitHub-Hookshot/abc' },
      false,
    );

    expect(body.length).toBeLessThanOrEqual(MAX_BODY_BYTES);
    expect(body.length).toBeGreaterThan(MAX_BODY_BYTES * 0.99);
    expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThan(lambdaSyncInvokeLimit);
  });

  it('answers 413 itself to a body just over the limit', async () => {
    const body = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);
    const handler = createHandler({
      sfn: new SFNClient({ region: 'eu-west-1' }),
      stateMachineArn: STATE_MACHINE_ARN,
      config,
      resolveSecret: async () => secrets.github,
      logger: silentLogger(),
    });

    const result = await handler(apiGatewayEvent('github', body, sign.github(body), false), context);

    expect(result.statusCode).toBe(413);
  });

  it('reads the provider from the route parameter and lower-cases header names', () => {
    const body = Buffer.from('{}');

    const raw = toRawRequest({
      ...apiGatewayEvent('gitlab', body, {}, false),
      headers: { 'X-Gitlab-Token': 't' },
    });

    expect(raw).toEqual({ provider: 'gitlab', headers: { 'x-gitlab-token': 't' }, body });
  });

  it('answers 500 without details when a request fails unexpectedly, and logs it with the invocation', async () => {
    const logger = testLogger();
    const lines: Record<string, unknown>[] = [];
    vi.spyOn(logger, 'error').mockImplementation((message, ...rest) => {
      lines.push({ message, ...(rest[0] as object), ...logger.getPersistentLogAttributes() });
    });
    const handler = createHandler({
      sfn: { send: vi.fn() },
      stateMachineArn: STATE_MACHINE_ARN,
      config,
      resolveSecret: async () => {
        throw Object.assign(new TypeError('secret store exploded'), { secret: 'never logged' });
      },
      logger,
    });
    // A resolver that throws is caught by receivePush (503); a config that is not a config is not.
    const broken = createHandler({
      sfn: { send: vi.fn() },
      stateMachineArn: STATE_MACHINE_ARN,
      config: { repositories: null } as never,
      resolveSecret: async () => 'x',
      logger,
    });
    const body = fixture('github-push.json');

    const result = await broken(apiGatewayEvent('github', body, sign.github(body), false), context);

    expect(result).toEqual({
      statusCode: 500,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'internal error' }),
    });
    expect(lines).toEqual([
      expect.objectContaining({
        message: 'webhook request failed',
        error: expect.objectContaining({ name: 'TypeError' }),
      }),
    ]);
    expect(
      (await handler(apiGatewayEvent('github', body, sign.github(body), false), context)).statusCode,
    ).toBe(503);
  });

  it('logs with the invocation context and forgets the keys a request appended', async () => {
    const logger = testLogger();
    logger.setLogLevel('SILENT');
    const addContext = vi.spyOn(logger, 'addContext');
    const resetKeys = vi.spyOn(logger, 'resetKeys');
    const handler = createHandler({
      sfn: { send: vi.fn() },
      stateMachineArn: STATE_MACHINE_ARN,
      config,
      resolveSecret: async () => {
        logger.appendKeys({ during: 'request' });
        return 'not the secret';
      },
      logger,
    });
    const body = fixture('github-push.json');

    const result = await handler(apiGatewayEvent('github', body, sign.github(body), false), context);

    expect(result.statusCode).toBe(401);
    expect(addContext).toHaveBeenCalledWith(context);
    expect(resetKeys).toHaveBeenCalledTimes(1);
    expect(resetKeys.mock.invocationCallOrder[0]).toBeGreaterThan(addContext.mock.invocationCallOrder[0]!);
  });

  it('fails at cold start with a message naming each bad variable', async () => {
    vi.stubEnv('STATE_MACHINE_ARN', 'not-an-arn');
    vi.stubEnv('STEPLINE_CONFIG', '{"repositories": []}');

    await expect(import('#functions/webhook/handler.ts')).rejects.toThrow(
      /STATE_MACHINE_ARN: expected a state machine ARN[\s\S]*STEPLINE_CONFIG\.repositories: name at least one repository/,
    );
  });

  it('builds the handler from the environment at cold start', async () => {
    vi.stubEnv('STATE_MACHINE_ARN', STATE_MACHINE_ARN);
    vi.stubEnv(
      'STEPLINE_CONFIG',
      JSON.stringify({
        repositories: [
          {
            provider: 'gitlab',
            name: 'mike/diaspora',
            webhookSecret: { env: 'GL_SECRET' },
            triggers: { branches: ['master'] },
          },
        ],
      }),
    );
    vi.stubEnv('GL_SECRET', secrets.gitlab);
    vi.stubEnv('LOG_LEVEL', 'SILENT');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    const { handler } = await import('#functions/webhook/handler.ts');
    const body = fixture('gitlab-push.json');

    const result = await handler(apiGatewayEvent('gitlab', body, sign.gitlab(body), false), context);

    expect(result.statusCode).toBe(202);
    expect(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input.stateMachineArn).toBe(
      STATE_MACHINE_ARN,
    );
  });
});
