import { basename, resolve } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { loadLocalConfig, UsageError } from '#local/config.ts';
import { git } from '#local/git/git.ts';
import { buildGitHubPushPayload, deliverGitHubPush, zeroSha } from '#local/git/push-payload.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { ExecutionFollower } from './follow.ts';
import { formatDuration } from './story.ts';
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
  const log = options.json ? () => {} : write;
  if (repo.snapshotOf)
    log(`${repo.snapshotOf} is not a repository of its own: pushing a snapshot commit of its files`);

  const runtime = await startLocalRuntime({
    dataDir: options.dataDir,
    config,
    port: 0,
    logger: options.logger,
  });
  const follower = new ExecutionFollower(runtime.engine, log);
  try {
    const payload = await buildGitHubPushPayload({
      repoDir: repo.repoDir,
      fullName,
      ref: fullRef,
      before: parent,
      after: sha,
    });
    const delivery = await deliverGitHubPush(
      `${runtime.webhookUrl}/webhooks/github`,
      options.secret,
      payload,
    );
    const reply = delivery.body as {
      executionArn?: string;
      executionName?: string;
      ignored?: string;
      message?: string;
    };
    if (delivery.status !== 202 || !reply.executionArn) {
      write(
        reply.ignored
          ? `the push was not run: ${reply.ignored}`
          : `the webhook refused the push (${delivery.status}): ${reply.message ?? JSON.stringify(reply)}`,
      );
      return reply.ignored ? 0 : 2;
    }
    log(
      `${fullName} ${fullRef.replace(/^refs\/(heads|tags)\//, '')} @ ${sha.slice(0, 12)} → execution ${reply.executionName}`,
    );
    const { description, visits } = await follower.follow(reply.executionArn);
    const totalMs = (description.stopDate ?? new Date()).getTime() - description.startDate.getTime();
    if (options.json) {
      write(
        JSON.stringify(
          {
            name: description.name,
            executionArn: description.executionArn,
            status: description.status,
            durationMs: totalMs,
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
      write('');
      write(`${description.status} in ${formatDuration(totalMs)}: ${description.name}`);
      if (description.error) write(`  ${description.error}: ${(description.cause ?? '').split('\n')[0]}`);
      write(`  history: npx stepline executions show ${description.name} --data ${resolve(options.dataDir)}`);
    }
    return description.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    follower.close();
    await runtime.close();
  }
}
