import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deploymentStatusPublisher } from '#functions/report-status/create-handler.ts';
import type { CommitStatus } from '#functions/report-status/report-status.ts';
import {
  localStatusPublisher,
  providerStatusPublisher,
  statusRequest,
} from '#functions/report-status/status-publishers.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { StatusReportError } from '#shared/errors.ts';
import { run } from '../fetch-source/fixtures.ts';
import { type LoopbackServer, startLoopbackServer } from '../fetch-source/loopback-server.ts';

const sha = 'f'.repeat(40);
const token = 'super-secret-token';

function statusOf(overrides: Partial<CommitStatus> = {}): CommitStatus {
  return {
    provider: 'github',
    repository: 'acme/service',
    sha,
    state: 'failure',
    context: 'stepline',
    description: 'TestsFailedError: 3 tests failed',
    targetUrl: 'https://console.example/run',
    ...overrides,
  };
}

describe('providerStatusPublisher', () => {
  let provider: LoopbackServer | undefined;
  afterEach(async () => {
    await provider?.close();
    provider = undefined;
  });

  const answer201 = () => ({ status: 201, body: '{}' });

  it('posts a GitHub commit status', async () => {
    provider = await startLoopbackServer(answer201);

    await providerStatusPublisher({ provider: 'github', token, apiUrl: provider.url })(statusOf(), run);

    expect(provider.requests).toHaveLength(1);
    const [request] = provider.requests;
    expect(request).toMatchObject({ method: 'POST', url: `/repos/acme/service/statuses/${sha}` });
    expect(request?.headers.authorization).toBe(`Bearer ${token}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      state: 'failure',
      target_url: 'https://console.example/run',
      description: 'TestsFailedError: 3 tests failed',
      context: 'stepline',
    });
  });

  it('posts a GitLab commit status with "failed" and the status name', async () => {
    provider = await startLoopbackServer(answer201);

    await providerStatusPublisher({ provider: 'gitlab', token, apiUrl: provider.url })(
      statusOf({ provider: 'gitlab', repository: 'acme/platform/service' }),
      run,
    );

    const [request] = provider.requests;
    expect(request).toMatchObject({
      method: 'POST',
      url: `/api/v4/projects/acme%2Fplatform%2Fservice/statuses/${sha}`,
    });
    expect(request?.headers.authorization).toBe(`Bearer ${token}`);
    expect(JSON.parse(request?.body ?? '')).toEqual({
      state: 'failed',
      name: 'stepline',
      target_url: 'https://console.example/run',
      description: 'TestsFailedError: 3 tests failed',
    });
  });

  it('posts a Gitea/Forgejo commit status', async () => {
    provider = await startLoopbackServer(answer201);

    await providerStatusPublisher({ provider: 'gitea', token, apiUrl: provider.url })(
      statusOf({ provider: 'gitea', state: 'pending' }),
      run,
    );

    const [request] = provider.requests;
    expect(request).toMatchObject({ method: 'POST', url: `/api/v1/repos/acme/service/statuses/${sha}` });
    expect(request?.headers.authorization).toBe(`token ${token}`);
    expect(JSON.parse(request?.body ?? '')).toEqual({
      state: 'pending',
      target_url: 'https://console.example/run',
      description: 'TestsFailedError: 3 tests failed',
      context: 'stepline',
    });
  });

  it('posts a Bitbucket build status with its own state names', async () => {
    provider = await startLoopbackServer(answer201);

    await providerStatusPublisher({ provider: 'bitbucket', token, apiUrl: provider.url })(
      statusOf({
        provider: 'bitbucket',
        state: 'success',
        description: 'Built, tested and deployed to production',
      }),
      run,
    );

    const [request] = provider.requests;
    expect(request).toMatchObject({
      method: 'POST',
      url: `/2.0/repositories/acme/service/commit/${sha}/statuses/build`,
    });
    expect(request?.headers.authorization).toBe(`Bearer ${token}`);
    expect(JSON.parse(request?.body ?? '')).toEqual({
      key: 'stepline',
      state: 'SUCCESSFUL',
      name: 'Stepline',
      url: 'https://console.example/run',
      description: 'Built, tested and deployed to production',
    });
  });

  it('throws a StatusReportError naming the URL and status, never the token, when the provider refuses', async () => {
    provider = await startLoopbackServer(() => ({
      status: 403,
      body: '{"message":"Resource not accessible"}',
    }));

    const error = await providerStatusPublisher({ provider: 'github', token, apiUrl: provider.url })(
      statusOf(),
      run,
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StatusReportError);
    expect((error as Error).name).toBe('StatusReportError');
    expect((error as Error).message).toBe(
      `POST ${provider.url}/repos/acme/service/statuses/${sha} answered 403 Forbidden: {"message":"Resource not accessible"}`,
    );
    expect((error as Error).message).not.toContain(token);
  });
});

describe('statusRequest', () => {
  it("maps a superseded push to each provider's closest state that is not a failure", () => {
    const states = (['github', 'gitea', 'gitlab', 'bitbucket'] as const).map((provider) => {
      const { body } = statusRequest({ ...statusOf(), provider, state: 'superseded' }, 'https://git.example');
      return [provider, body.state];
    });

    expect(states).toEqual([
      ['github', 'success'],
      ['gitea', 'warning'],
      ['gitlab', 'canceled'],
      ['bitbucket', 'STOPPED'],
    ]);
  });
});

describe('deploymentStatusPublisher', () => {
  const config = DeploymentConfig.parse({
    repositories: [{ provider: 'github', name: 'acme/service', webhookSecret: { value: 'w' } }],
  });

  it('skips a repository without a providerToken and logs why', async () => {
    const logged: unknown[] = [];
    const publish = deploymentStatusPublisher(config, async () => 'unused', {
      info: (...args: unknown[]) => {
        logged.push(args);
      },
    });

    await publish(statusOf(), run);

    expect(JSON.stringify(logged)).toContain('has no providerToken');
  });
});

describe('localStatusPublisher', () => {
  let dataDir: string | undefined;
  afterEach(async () => {
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("appends each status as a JSON line to the run's file in the data directory", async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-data-'));
    const publish = localStatusPublisher(dataDir, () => new Date('2024-01-01T00:00:00Z'));

    await publish(statusOf({ state: 'pending' }), run);
    await publish(statusOf({ state: 'success' }), run);

    const lines = (await readFile(join(dataDir, 'statuses', `${run.name}.jsonl`), 'utf8'))
      .trimEnd()
      .split('\n');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { ...statusOf({ state: 'pending' }), run: run.name, at: '2024-01-01T00:00:00.000Z' },
      { ...statusOf({ state: 'success' }), run: run.name, at: '2024-01-01T00:00:00.000Z' },
    ]);
  });
});
