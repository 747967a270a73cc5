import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveFromOutbox, findApprovalLinks } from '#local/commands/approve.ts';
import { storyOf } from '#local/commands/executions.ts';
import { buildGitHubPushPayload, deliverGitHubPush, zeroSha } from '#local/git/push-payload.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { createLogger } from '#shared/logger.ts';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.ts';
import { repoRoot } from './cli.ts';

const secret = 'e2e-lanes-secret';
const example = join(repoRoot, 'examples', 'hello-service');

/** Polls `probe` every 200 ms until it returns something, for at most `seconds`. */
async function until<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  seconds = 240,
): Promise<T> {
  for (let i = 0; i < seconds * 5; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('execution modes, end to end on the local runtime', () => {
  let dataDir: string;
  let repo: GitRepo;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-e2e-lanes-'));
    repo = await createGitRepo();
    // The default local configuration deploys every repository: its branches run `superseded`.
    runtime = await startLocalRuntime({
      dataDir,
      config: localDefaultConfig(secret),
      port: 0,
      logger: createLogger('stepline-e2e-lanes'),
      waitMs: 200,
    });
  });
  afterAll(async () => {
    await runtime?.close();
    await repo?.remove();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('ends the older of two quick pushes to a branch as superseded, naming the newer, and deploys the newer', {
    timeout: 300_000,
  }, async () => {
    await cp(example, repo.dir, { recursive: true, filter: (path) => !path.includes('node_modules') });
    const yml = join(repo.dir, 'stepline.yml');
    const original = await readFile(yml, 'utf8');
    // The older push builds slowly: the newer one enters the lane while the older one is in Build.
    await writeFile(yml, original.replace('    - npm ci --offline', '    - sleep 8\n    - npm ci --offline'));
    const older = await repo.commit({}, 'Slow build');
    await writeFile(yml, original);
    const newer = await repo.commit({}, 'Fast build');
    const push = (before: string, after: string) =>
      buildGitHubPushPayload({
        repoDir: repo.dir,
        fullName: 'acme/lanes',
        ref: 'refs/heads/main',
        before,
        after,
      });
    const webhook = `${runtime.webhookUrl}/webhooks/github`;

    const first = await deliverGitHubPush(webhook, secret, await push(zeroSha, older), 'delivery-older');
    const olderName = (first.body as { executionName: string }).executionName;
    await until(
      () => (storyOf(dataDir, olderName).some((v) => v.name === 'Build') ? true : undefined),
      'the older push to reach Build',
    );
    const second = await deliverGitHubPush(webhook, secret, await push(older, newer), 'delivery-newer');
    const newerName = (second.body as { executionName: string }).executionName;
    const link = await until(
      async () => (await findApprovalLinks(runtime.outboxDir)).at(0),
      "the newer push's approval email",
    );
    await approveFromOutbox({ outboxDir: runtime.outboxDir, id: link.id, decision: 'approve' });
    const [olderRun, newerRun] = await Promise.all([
      runtime.engine.waitForExecution(runtime.engine.executionArnOf(olderName)),
      runtime.engine.waitForExecution(runtime.engine.executionArnOf(newerName)),
    ]);

    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(olderRun.status).toBe('SUCCEEDED');
    const olderPath = storyOf(dataDir, olderName).map((v) => v.name);
    expect(olderPath.slice(-4)).toEqual([
      'SupersededBeforeStaging',
      'Superseded',
      'LeaveLaneAfterSuperseded',
      'PipelineSuperseded',
    ]);
    expect(olderPath).not.toContain('DeployStaging');
    expect(JSON.parse(olderRun.output!).lane).toEqual({
      superseded: true,
      supersededBy: { execution: newerName, executionArn: newerRun.executionArn, commit: newer },
    });
    const statuses = (await readFile(join(dataDir, 'statuses', `${olderName}.jsonl`), 'utf8'))
      .trim()
      .split('\n');
    expect(JSON.parse(statuses.at(-1)!)).toMatchObject({
      state: 'superseded',
      description: expect.stringContaining(`execution ${newerName}`),
    });
    expect(newerRun.status).toBe('SUCCEEDED');
    const newerPath = storyOf(dataDir, newerName).map((v) => v.name);
    expect(newerPath).toContain('DeployProduction');
    expect(newerPath.slice(-2)).toEqual(['LeaveLaneAfterSuccess', 'PipelineSucceeded']);
  });
});
