// npm run bench:pipeline — the local pipeline on examples/hello-service, cold then with a warm
// cache, split into the time inside the user's commands and Stepline's own orchestration.
import '#local/polyfills.ts';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecutionFollower } from '#local/commands/follow.ts';
import { pushableRepo } from '#local/commands/workspace.ts';
import { git } from '#local/git/git.ts';
import { buildGitHubPushPayload, deliverGitHubPush, zeroSha } from '#local/git/push-payload.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import type { LocalHistoryEvent } from '#local/sfn/store.ts';
import { readHistory } from '#local/sfn/store.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { createLogger } from '#shared/logger.ts';

process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const example = fileURLToPath(new URL('../examples/hello-service', import.meta.url));
const goalOverheadMs = 1500;

interface Measured {
  /** From the webhook delivery to the end of Test: the build-and-test part of the pipeline. */
  throughTestMs: number;
  /** Time inside the user's build and test commands, as the runner measured it. */
  commandsMs: number;
  cacheRestored: boolean;
}

async function measureOnce(dataDir: string, secret: string): Promise<Measured> {
  const repo = await pushableRepo(example, dataDir);
  const sha = await git(repo.repoDir, ['rev-parse', 'HEAD']);
  const runtime = await startLocalRuntime({
    dataDir,
    config: localDefaultConfig(secret),
    port: 0,
    logger: createLogger('bench'),
    heartbeatSeconds: 5,
  });
  const follower = new ExecutionFollower(runtime.engine, () => {});
  try {
    const payload = await buildGitHubPushPayload({
      repoDir: repo.repoDir,
      fullName: 'local/hello-service',
      ref: 'refs/heads/main',
      before: zeroSha,
      after: sha,
    });
    const startedAt = Date.now();
    const delivery = await deliverGitHubPush(`${runtime.webhookUrl}/webhooks/github`, secret, payload);
    const { executionArn } = delivery.body as { executionArn: string };
    // The bench measures through Test; the run then goes on to the image, staging and an approval
    // that nobody gives here, so it is stopped once Test has ended.
    const testEnded = new Promise<void>((resolveTest) => {
      const onEvent = (arn: string, event: LocalHistoryEvent) => {
        if (arn !== executionArn) return;
        const ended = /^Execution(Succeeded|Failed|TimedOut|Aborted)$/.test(event.type);
        if ((event.type === 'TaskStateExited' && event.stateExitedEventDetails?.name === 'Test') || ended) {
          runtime.engine.off('event', onEvent);
          resolveTest();
        }
      };
      runtime.engine.on('event', onEvent);
    });
    await testEnded;
    await runtime.engine.stopExecution(executionArn, { cause: 'bench:pipeline measures through Test' });
    const { description } = await follower.follow(executionArn);
    const history = readHistory(dataDir, description.name);
    const testExit = history.find(
      (e) => e.type === 'TaskStateExited' && e.stateExitedEventDetails?.name === 'Test',
    );
    if (!testExit) throw new Error(`the run did not pass Test: ${description.error}: ${description.cause}`);
    const state = JSON.parse(testExit.stateExitedEventDetails?.output ?? '{}') as {
      build: { commandsMs: number; cache?: { restored: boolean } };
      test: { commandsMs: number };
    };
    return {
      throughTestMs: new Date(testExit.timestamp).getTime() - startedAt,
      commandsMs: state.build.commandsMs + state.test.commandsMs,
      cacheRestored: state.build.cache?.restored ?? false,
    };
  } finally {
    follower.close();
    await runtime.close();
  }
}

const dataDir = await mkdtemp(join(tmpdir(), 'stepline-bench-pipeline-'));
try {
  const secret = randomBytes(32).toString('hex');
  const cold = await measureOnce(dataDir, secret);
  const warm = await measureOnce(dataDir, secret);
  const row = (label: string, m: Measured) =>
    `${label.padEnd(6)} total ${String(m.throughTestMs).padStart(6)} ms   commands ${String(m.commandsMs).padStart(6)} ms   overhead ${String(m.throughTestMs - m.commandsMs).padStart(6)} ms   cache ${m.cacheRestored ? 'restored' : 'miss'}`;
  console.log('stepline local pipeline on examples/hello-service (webhook → end of Test)');
  console.log(row('cold', cold));
  console.log(row('warm', warm));
  console.log(`warm/cold ratio ${(warm.throughTestMs / cold.throughTestMs).toFixed(2)}`);
  for (const [label, m] of [
    ['cold', cold],
    ['warm', warm],
  ] as const) {
    const overhead = m.throughTestMs - m.commandsMs;
    console.log(
      `${overhead < goalOverheadMs ? 'PASS' : 'MISS'}: ${label} orchestration overhead ${overhead} ms against a goal of < ${goalOverheadMs} ms`,
    );
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
