import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiGatewayIntegration } from '#local/lambda/api-gateway.ts';
import { bundleBootstrap, bundleLambda } from '#local/lambda/bundles.ts';
import { type LambdaInvocationError, LocalLambdaFunction } from '#local/lambda/local-function.ts';
import { type LambdaCompute, lambdaCompute } from '#shared/compute.ts';

// The Lambda stand-in: a function's bundle in worker threads with its own environment, memory,
// timeout and concurrency. Fixture handlers are plain ESM files; the env test runs a real bundle.
let dir: string;
let bootstrap: string;
const opened: LocalLambdaFunction[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stepline-lambda-'));
  bootstrap = await bundleBootstrap(dir);
  writeFileSync(
    join(dir, 'fixture.mjs'),
    `let calls = 0;
export const handler = async (event, context) => {
  calls++;
  if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
  if (event.hang) await new Promise(() => {});
  if (event.crashLater) setTimeout(() => { throw new Error('thrown after the handler returned'); }, 10);
  if (event.allocate) { const kept = []; for (;;) kept.push(new Array(1_000_000).fill(calls)); }
  if (event.throw) { const error = new Error(event.throw.message); error.name = event.throw.name; throw error; }
  const before = process.env.FIXTURE_SET;
  process.env.FIXTURE_SET = 'set by the function';
  return { calls, greeting: process.env.GREETING ?? null, secret: process.env.STEPLINE_WEBHOOK_SECRET ?? null, before,
    memory: context.memoryLimitInMB, remaining: context.getRemainingTimeInMillis() > 0, name: context.functionName };
};
`,
  );
}, 60_000);

afterEach(async () => {
  await Promise.all(opened.splice(0).map((fn) => fn.close()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function fixture(compute: Partial<LambdaCompute> = {}, options: { reservedConcurrency?: number } = {}) {
  const fn = new LocalLambdaFunction({
    compute: {
      folder: 'fixture',
      entry: 'fixture.mjs',
      handler: 'handler',
      memorySize: 128,
      timeoutSeconds: 30,
      ...compute,
    },
    bundle: join(dir, 'fixture.mjs'),
    bootstrap,
    env: () => ({ GREETING: 'hello' }),
    functionArn: 'arn:aws:lambda:local:000000000000:function:stepline-fixture',
    ...options,
  });
  opened.push(fn);
  return fn;
}

async function failure(promise: Promise<unknown>): Promise<LambdaInvocationError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(Error);
  return error as LambdaInvocationError;
}

describe('a local Lambda function', () => {
  it('runs in a warm worker that is reused, with only its own environment, and changes stay inside it', async () => {
    process.env.STEPLINE_WEBHOOK_SECRET = 'the serve process secret';
    try {
      const fn = fixture();
      const first = (await fn.invoke({})) as Record<string, unknown>;
      const second = (await fn.invoke({})) as Record<string, unknown>;
      expect(first).toMatchObject({
        calls: 1,
        greeting: 'hello',
        secret: null,
        memory: '128',
        remaining: true,
      });
      expect(first.name).toBe('stepline-fixture');
      // The same worker: its module state and its own process.env persisted between invocations.
      expect(second).toMatchObject({ calls: 2, before: 'set by the function' });
      expect(process.env.FIXTURE_SET).toBeUndefined();
      expect(fn.warm).toBe(1);
    } finally {
      delete process.env.STEPLINE_WEBHOOK_SECRET;
    }
  });

  it('fails with the error name the handler threw, and the cause is the payload Lambda reports', async () => {
    const fn = fixture();
    const error = await failure(
      fn.invoke({ throw: { name: 'DeploymentFailedError', message: 'rolled back' } }),
    );
    expect(error.name).toBe('DeploymentFailedError');
    const cause = JSON.parse(error.message);
    expect(cause).toMatchObject({ errorType: 'DeploymentFailedError', errorMessage: 'rolled back' });
    expect(Array.isArray(cause.trace)).toBe(true);
    // A handled error leaves the worker warm.
    expect(((await fn.invoke({})) as { calls: number }).calls).toBe(2);
  });

  it('stops an invocation past its timeout with Sandbox.Timedout, and the next one gets a fresh worker', async () => {
    const fn = fixture({ timeoutSeconds: 1 });
    const error = await failure(fn.invoke({ hang: true }));
    expect(error.name).toBe('Sandbox.Timedout');
    expect(JSON.parse(error.message).errorMessage).toMatch(
      /^RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds$/,
    );
    expect(((await fn.invoke({})) as { calls: number }).calls).toBe(1);
  });

  it('replaces a warm worker that ended between invocations instead of waiting on it', async () => {
    const fn = fixture({ timeoutSeconds: 5 });
    expect(((await fn.invoke({ crashLater: true })) as { calls: number }).calls).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(((await fn.invoke({})) as { calls: number }).calls).toBe(1);
  });

  it('ends a function that outgrows its memory with Runtime.OutOfMemory', async () => {
    const fn = fixture({ memorySize: 32 });
    const error = await failure(fn.invoke({ allocate: true }));
    expect(error.name).toBe('Runtime.OutOfMemory');
    expect(JSON.parse(error.message).errorMessage).toContain('32 MB');
    expect(((await fn.invoke({})) as { calls: number }).calls).toBe(1);
  }, 30_000);

  it('throws Lambda.TooManyRequestsException past its reserved concurrency, which the ASL retries', async () => {
    const fn = fixture({}, { reservedConcurrency: 2 });
    const running = [fn.invoke({ sleepMs: 500 }), fn.invoke({ sleepMs: 500 })];
    const error = await failure(fn.invoke({}));
    expect(error.name).toBe('Lambda.TooManyRequestsException');
    await Promise.all(running);
    // Two workers served the two at once; both stay warm.
    expect(fn.warm).toBe(2);
  });
});

describe('a local function behind the API Gateway stand-in', () => {
  it('answers what the function returns, and 500 Internal Server Error when the invocation fails', async () => {
    const fn = fixture({ timeoutSeconds: 1 });
    const integration = apiGatewayIntegration(fn);
    const event = (body: object) => body as unknown as APIGatewayProxyEventV2;

    expect(await integration(event({}))).toMatchObject({ calls: 1, greeting: 'hello' });
    const failed = await integration(event({ throw: { name: 'TypeError', message: 'boom' } }));
    expect(failed).toEqual({
      statusCode: 500,
      headers: { 'content-type': 'application/json' },
      body: '{"message":"Internal Server Error"}',
    });
    expect(await integration(event({ hang: true }))).toMatchObject({ statusCode: 500 });
  });
});

describe('a bundled handler run locally', () => {
  it('parses its environment at init: a bad variable fails the invocation with an error naming it', async () => {
    const bundle = await bundleLambda(lambdaCompute.deploy, dir);
    const fn = new LocalLambdaFunction({
      compute: lambdaCompute.deploy,
      bundle,
      bootstrap,
      env: () => ({ STEPLINE_CONFIG: '{"repositories": "all of them"}', AWS_REGION: 'us-east-1' }),
      functionArn: 'arn:aws:lambda:local:000000000000:function:stepline-deploy',
    });
    opened.push(fn);
    const error = await failure(fn.invoke({}));
    const cause = JSON.parse(error.message) as { errorMessage: string };
    expect(cause.errorMessage).toContain('deploy function environment is invalid');
    expect(cause.errorMessage).toMatch(/STEPLINE_CONFIG\.repositories: /);
  }, 60_000);

  it('is bundled once and rebuilt only when a source changes', async () => {
    const compute: LambdaCompute = {
      ...lambdaCompute.deploy,
      folder: 'rebuilt',
      entry: join(dir, 'entry.ts'),
    };
    writeFileSync(join(dir, 'entry.ts'), "export const handler = async () => 'first';\n");
    const bundle = await bundleLambda(compute, dir);
    writeFileSync(bundle, `${readFileSync(bundle, 'utf8')}\n// untouched\n`);
    await bundleLambda(compute, dir);
    expect(readFileSync(bundle, 'utf8')).toContain('// untouched');
    writeFileSync(join(dir, 'entry.ts'), "export const handler = async () => 'second, longer';\n");
    await bundleLambda(compute, dir);
    expect(readFileSync(bundle, 'utf8')).toContain('second, longer');
    expect(readFileSync(bundle, 'utf8')).not.toContain('// untouched');
  }, 60_000);
});
