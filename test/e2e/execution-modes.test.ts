import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { approveFromOutbox, findApprovalLinks } from '#local/commands/approve.ts';
import { storyOf } from '#local/commands/executions.ts';
import { buildGitHubPushPayload, deliverGitHubPush, zeroSha } from '#local/git/push-payload.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { DeploymentConfig, type ExecutionMode } from '#shared/deployment-config.ts';
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

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A local runtime whose repositories run in `executionMode` (the default configuration's own default
 * when unset: `superseded`, as they deploy), and a repository of the example service with two commits
 * of `main`: the older one builds slowly (8 s more), so the newer push arrives while it is in Build.
 */
async function twoPushes(executionMode?: ExecutionMode) {
  const dataDir = await mkdtemp(join(tmpdir(), 'stepline-e2e-lanes-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const repo: GitRepo = await createGitRepo();
  cleanups.push(() => repo.remove());
  const defaults = localDefaultConfig(secret);
  const config =
    executionMode === undefined
      ? defaults
      : DeploymentConfig.parse({
          ...defaults,
          repositories: defaults.repositories.map((r) => ({ ...r, executionMode })),
        });
  const runtime: LocalRuntime = await startLocalRuntime({
    dataDir,
    config,
    port: 0,
    logger: createLogger('stepline-e2e-lanes'),
    waitMs: 200,
  });
  cleanups.push(() => runtime.close());
  await cp(example, repo.dir, { recursive: true, filter: (path) => !path.includes('node_modules') });
  const yml = join(repo.dir, 'stepline.yml');
  const original = await readFile(yml, 'utf8');
  await writeFile(yml, original.replace('    - npm ci --offline', '    - sleep 8\n    - npm ci --offline'));
  const older = await repo.commit({}, 'Slow build');
  await writeFile(yml, original);
  const newer = await repo.commit({}, 'Fast build');
  const webhook = `${runtime.webhookUrl}/webhooks/github`;
  const push = async (before: string, after: string, deliveryId: string) => {
    const payload = await buildGitHubPushPayload({
      repoDir: repo.dir,
      fullName: 'acme/lanes',
      ref: 'refs/heads/main',
      before,
      after,
    });
    const delivery = await deliverGitHubPush(webhook, secret, payload, deliveryId);
    expect(delivery.status).toBe(202);
    return (delivery.body as { executionName: string }).executionName;
  };
  const path = (name: string) => storyOf(dataDir, name).map((v) => v.name);
  const reached = (name: string, state: string) =>
    until(() => (path(name).includes(state) ? true : undefined), `${name} to reach ${state}`);
  const approveNext = async (seen: Set<string>) => {
    const link = await until(
      async () => (await findApprovalLinks(runtime.outboxDir)).find((l) => !seen.has(l.id)),
      'an approval email',
    );
    seen.add(link.id);
    await approveFromOutbox({ outboxDir: runtime.outboxDir, id: link.id, decision: 'approve' });
  };
  const finished = (name: string) => runtime.engine.waitForExecution(runtime.engine.executionArnOf(name));
  return { dataDir, runtime, older, newer, push, path, reached, approveNext, finished };
}

describe('execution modes, end to end on the local runtime', () => {
  it('ends the older of two quick pushes to a branch as superseded, naming the newer, and deploys the newer', {
    timeout: 300_000,
  }, async () => {
    const run = await twoPushes();

    const olderName = await run.push(zeroSha, run.older, 'delivery-older');
    await run.reached(olderName, 'Build');
    const newerName = await run.push(run.older, run.newer, 'delivery-newer');
    await run.approveNext(new Set());
    const [olderRun, newerRun] = await Promise.all([run.finished(olderName), run.finished(newerName)]);

    expect(olderRun.status).toBe('SUCCEEDED');
    expect(run.path(olderName).slice(-4)).toEqual([
      'SupersededBeforeStaging',
      'Superseded',
      'LeaveLaneAfterSuperseded',
      'PipelineSuperseded',
    ]);
    expect(run.path(olderName)).not.toContain('DeployStaging');
    expect(JSON.parse(olderRun.output!).lane).toEqual({
      superseded: true,
      supersededBy: { execution: newerName, executionArn: newerRun.executionArn, commit: run.newer },
    });
    const statuses = (await readFile(join(run.dataDir, 'statuses', `${olderName}.jsonl`), 'utf8'))
      .trim()
      .split('\n');
    expect(JSON.parse(statuses.at(-1)!)).toMatchObject({
      state: 'superseded',
      description: expect.stringContaining(`execution ${newerName}`),
    });
    expect(newerRun.status).toBe('SUCCEEDED');
    expect(run.path(newerName)).toContain('DeployProduction');
    expect(run.path(newerName).slice(-2)).toEqual(['LeaveLaneAfterSuccess', 'PipelineSucceeded']);
  });

  it('holds the newer push in WaitInLane until the older run has gone to production, then runs it', {
    timeout: 300_000,
  }, async () => {
    const run = await twoPushes('queued');
    const approvals = new Set<string>();

    const olderName = await run.push(zeroSha, run.older, 'delivery-older');
    await run.reached(olderName, 'Build');
    const newerName = await run.push(run.older, run.newer, 'delivery-newer');
    await run.reached(newerName, 'WaitInLane');
    const newerWhileOlderRuns = run.path(newerName);
    await run.approveNext(approvals);
    const olderRun = await run.finished(olderName);
    await run.approveNext(approvals);
    const newerRun = await run.finished(newerName);

    expect(newerWhileOlderRuns).not.toContain('Build');
    expect(olderRun.status).toBe('SUCCEEDED');
    expect(run.path(olderName)).toContain('DeployProduction');
    expect(newerRun.status).toBe('SUCCEEDED');
    expect(run.path(newerName)).toContain('DeployProduction');
    // The older run's LeaveLane answered the newer one's WaitInLane: its Build came after.
    const olderLeft = storyOf(run.dataDir, olderName).find((v) => v.name === 'LeaveLaneAfterSuccess')!;
    const newerBuild = storyOf(run.dataDir, newerName).find((v) => v.name === 'Build')!;
    expect(newerBuild.enteredAt.getTime()).toBeGreaterThanOrEqual(olderLeft.enteredAt.getTime());
  });
});
