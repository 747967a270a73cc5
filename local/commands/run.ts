import { basename, resolve } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient } from '@aws-sdk/client-sfn';
import { loadLocalConfig, UsageError } from '#local/config.ts';
import { readLocalCredentials } from '#local/credentials.ts';
import { git } from '#local/git/git.ts';
import { buildGitHubPushPayload, deliverGitHubPush, zeroSha } from '#local/git/push-payload.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { localRegion } from '#local/s3.ts';
import type { LocalHistoryEvent } from '#local/sfn/store.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { estimateExecutionCost } from '#shared/cost/estimate.ts';
import { describeCost } from '#shared/cost/format.ts';
import { approvalWatch } from './approval-watch.ts';
import { outboxDirOf } from './approve.ts';
import { formatResults } from './executions.ts';
import { ExecutionFollower, followRemote } from './follow.ts';
import { findRunningRuntime, runningConsoleOpenUrl } from './running-runtime.ts';
import { formatDuration, type RunResults, readableCause, resultsOf, type StateVisit } from './story.ts';
import { printable } from './terminal.ts';
import { pushableRepo } from './workspace.ts';

export interface RunOptions {
  repoDir: string;
  ref?: string;
  dataDir: string;
  json: boolean;
  configPath?: string;
  secret: string;
  logger: Logger;
  write: (line: string) => void;
  /** An external registry to push images to instead of the local one. */
  registry?: string;
  /** Approve production as the first approver, through the emailed link's page (the same path as a click). */
  autoApprove?: boolean;
}

async function resolveRef(
  repoDir: string,
  ref: string | undefined,
): Promise<{ sha: string; fullRef: string }> {
  const wanted = ref ?? 'HEAD';
  let sha: string;
  try {
    sha = await git(repoDir, ['rev-parse', '--verify', `${wanted}^{commit}`]);
  } catch {
    throw new UsageError(`"${wanted}" is not a commit in ${repoDir}`);
  }
  if (ref?.startsWith('refs/')) return { sha, fullRef: ref };
  const tag = ref ? await git(repoDir, ['tag', '--list', ref]) : '';
  if (tag) return { sha, fullRef: `refs/tags/${ref}` };
  const branch =
    ref ?? (await git(repoDir, ['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => 'main'));
  return { sha, fullRef: `refs/heads/${branch}` };
}

/**
 * `stepline run`: pushes a repository's commit through the pipeline on this machine, by sending
 * the signed webhook a provider would send to an in-process `stepline serve`, and prints each
 * state as it starts and ends. Exit 0 when the pipeline succeeds, 1 when it fails.
 */
export async function runCommand(options: RunOptions): Promise<number> {
  const { write } = options;
  const repo = await pushableRepo(options.repoDir, options.dataDir);
  const { sha, fullRef } = await resolveRef(repo.repoDir, options.ref);
  const parent = await git(repo.repoDir, ['rev-parse', '--verify', '--quiet', `${sha}^`]).catch(
    () => zeroSha,
  );
  const fullName = `local/${basename(repo.snapshotOf ?? repo.repoDir)}`;
  // Without --config the run accepts this push alone; stepline.config.json may be an AWS deployment's.
  const config = options.configPath
    ? loadLocalConfig(options.configPath, options.secret).config
    : localDefaultConfig(options.secret);
  // Refs, repository names, build output and causes come from the push and the build: `log` keeps
  // the lines of a multi-line cause, `say` prints one line.
  const log = options.json ? () => {} : (text: string) => write(printable(text, { multiline: true }));
  const say = (line: string) => log(printable(line));
  if (repo.snapshotOf)
    say(`${repo.snapshotOf} is not a repository of its own: pushing a snapshot commit of its files`);

  const running = await findRunningRuntime(options.dataDir);
  let runtime: LocalRuntime | undefined;
  let webhookUrl: string;
  let sfn: SFNClient | undefined;
  if (running) {
    say(
      `delivering to the stepline serve of ${resolve(options.dataDir)} (pid ${running.pid}, ${running.webhookUrl})`,
    );
    const consoleOpenUrl = runningConsoleOpenUrl(running, options.dataDir);
    if (consoleOpenUrl) say(`  console: ${consoleOpenUrl}`);
    webhookUrl = running.webhookUrl;
    sfn = new SFNClient({
      endpoint: running.sfnEndpoint,
      region: localRegion,
      // The running serve answers only requests signed with the data directory's key.
      credentials: await readLocalCredentials(options.dataDir),
    });
  } else {
    runtime = await startLocalRuntime({
      dataDir: options.dataDir,
      config,
      port: 0,
      logger: options.logger,
      ...(options.registry ? { registry: options.registry } : {}),
    });
    webhookUrl = runtime.webhookUrl;
  }
  const onRequestApproval = await approvalWatch({
    outboxDir: runtime?.outboxDir ?? running?.outboxDir ?? outboxDirOf(options.dataDir),
    write: log,
    autoApprove: options.autoApprove ? { comment: 'approved by stepline run --auto-approve' } : undefined,
  });
  const onTaskStarted = (visit: StateVisit) => {
    if (visit.name !== 'RequestApproval') return;
    onRequestApproval().catch((error: unknown) =>
      say(`    could not follow the approval link: ${(error as Error).message}`),
    );
  };
  const follower = runtime ? new ExecutionFollower(runtime.engine, log, onTaskStarted) : undefined;
  try {
    const payload = await buildGitHubPushPayload({
      repoDir: repo.repoDir,
      fullName,
      ref: fullRef,
      before: parent,
      after: sha,
    });
    const delivery = await deliverGitHubPush(`${webhookUrl}/webhooks/github`, options.secret, payload);
    const reply = delivery.body as {
      executionArn?: string;
      executionName?: string;
      ignored?: string;
      message?: string;
    };
    if (delivery.status !== 202 || !reply.executionArn) {
      write(
        printable(
          reply.ignored
            ? `the push was not run: ${reply.ignored}`
            : `the webhook refused the push (${delivery.status}): ${reply.message ?? JSON.stringify(reply)}`,
        ),
      );
      return reply.ignored ? 0 : 2;
    }
    say(
      `${fullName} ${fullRef.replace(/^refs\/(heads|tags)\//, '')} @ ${sha.slice(0, 12)} → execution ${reply.executionName}`,
    );
    let description: {
      name?: string | undefined;
      executionArn?: string | undefined;
      status?: string | undefined;
      startDate?: Date | undefined;
      stopDate?: Date | undefined;
      error?: string | undefined;
      cause?: string | undefined;
      output?: string | undefined;
    };
    let visits: StateVisit[];
    let events: readonly LocalHistoryEvent[];
    if (follower && runtime) {
      ({ description, visits } = await follower.follow(reply.executionArn));
      events = runtime.engine.getExecutionHistory(reply.executionArn, { maxResults: 1000 }).events;
    } else {
      ({ description, visits, events } = await followRemote(sfn!, reply.executionArn, log, onTaskStarted));
    }
    const results = resultsOf(events);
    const cost = estimateExecutionCost(events);
    const status = runStatus(description.status, results, visits);
    const totalMs =
      (description.stopDate ?? new Date()).getTime() - (description.startDate ?? new Date()).getTime();
    if (options.json) {
      write(
        JSON.stringify(
          {
            name: description.name,
            executionArn: description.executionArn,
            status,
            durationMs: totalMs,
            image: results.image,
            staging: results.staging,
            production: results.production,
            approval: results.approval,
            cost,
            states: visits.map((v) => ({
              name: v.name,
              type: v.type,
              outcome: v.outcome,
              durationMs: v.durationMs,
              error: v.error,
            })),
            error: description.error,
            cause: description.cause,
            output: description.output ? JSON.parse(description.output) : undefined,
          },
          null,
          2,
        ),
      );
    } else {
      log('');
      say(`${status} in ${formatDuration(totalMs)}: ${description.name}`);
      if (description.error)
        say(`  ${description.error}: ${readableCause(description.cause).split('\n')[0]}`);
      for (const line of formatResults(results)) log(line);
      say(`  cost:       ${describeCost(cost)}`);
      say(
        `  history:    npx stepline executions show ${description.name} --data ${resolve(options.dataDir)}`,
      );
      if (runtime && (results.staging || results.production))
        log(
          '  (the services this run deployed stop when it exits; run `npx stepline serve` first to keep them up)',
        );
    }
    return description.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    follower?.close();
    sfn?.destroy();
    await runtime?.close();
  }
}

/**
 * What `stepline run` reports: the execution's status, except that a run that succeeded because a
 * newer one overtook it (a deployment of a newer commit, or a newer push at a lane checkpoint) is
 * SUPERSEDED.
 */
export function runStatus(
  executionStatus: string | undefined,
  results: Pick<RunResults, 'staging' | 'production'>,
  visits: readonly Pick<StateVisit, 'name'>[],
): string | undefined {
  const superseded =
    [results.staging, results.production].some((d) => d?.outcome === 'Superseded') ||
    visits.some((visit) => visit.name === 'PipelineSuperseded');
  return executionStatus === 'SUCCEEDED' && superseded ? 'SUPERSEDED' : executionStatus;
}
