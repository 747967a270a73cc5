import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client } from '@aws-sdk/client-s3';
import { SendTaskFailureCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PipelineError } from '#shared/errors.ts';
import { fitCause } from '#shared/payload-budget.ts';
import { killAllProcessGroups } from './exec.ts';
import { runStage, TaskReportError } from './run-stage.ts';
import { parseRunnerEnv, type RunnerSettings } from './runner-env.ts';

// Process entry of the Build/Test/PublishImage runner: a Fargate task on AWS, a child process of
// the local engine. Exit 0 once Step Functions has the result (success or failure), 1 otherwise.

const print = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  // The SDK reads AWS_ENDPOINT_URL_S3/_SFN itself; s3rver needs path-style URLs and no checksums.
  const s3 = new S3Client({
    ...(process.env.AWS_ENDPOINT_URL_S3 ? { forcePathStyle: true } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const sfn = new SFNClient({});
  try {
    let settings: RunnerSettings;
    try {
      settings = parseRunnerEnv(process.env);
    } catch (error) {
      return await reportBadEnv(sfn, error);
    }
    return await runWith(settings, s3, sfn);
  } finally {
    s3.destroy();
    sfn.destroy();
  }
}

async function runWith(settings: RunnerSettings, s3: S3Client, sfn: SFNClient): Promise<number> {
  const workdir = settings.workdir ?? (await mkdtemp(join(tmpdir(), `stepline-${settings.input.stage}-`)));
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) =>
    stop.abort(
      new PipelineError(`the runner received ${signal} and stopped the ${settings.input.stage} stage`),
    );
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.on('exit', killAllProcessGroups);
  // Locally the runner is the runtime's child; if the runtime dies (kill -9), the runner is
  // re-parented and stops its commands rather than run on for a run nobody records. On Fargate
  // its parent is ECS's init, which lives as long as the task.
  const parent = process.ppid;
  const orphaned = setInterval(() => {
    if (process.ppid === parent) return;
    stop.abort(
      new PipelineError(
        `the runner's parent process (pid ${parent}) exited; stopped the ${settings.input.stage} stage`,
      ),
    );
    clearInterval(orphaned);
  }, 500);
  orphaned.unref();
  // The SDK reads AWS_ENDPOINT_URL_ECR itself (the local registry answers the ECR JSON API).
  const ecr = settings.publisher?.registryAuth === 'ecr' ? new ECRClient({}) : undefined;
  try {
    await runStage(settings.input, {
      s3,
      sfn,
      bucket: settings.bucket,
      workdir,
      heartbeatMs: settings.heartbeatMs,
      sandbox: settings.sandbox,
      log: print,
      now: Date.now,
      signal: stop.signal,
      ...(settings.cacheMaxBytes !== undefined ? { cacheMaxBytes: settings.cacheMaxBytes } : {}),
      ...(settings.publisher ? { publisher: { settings: settings.publisher, ...(ecr ? { ecr } : {}) } } : {}),
    });
    return 0;
  } catch (error) {
    if (error instanceof TaskReportError) {
      console.error(`stepline: ${error.message}`);
      return 1;
    }
    // The failure was delivered with SendTaskFailure: the task itself did its job.
    return 0;
  } finally {
    clearInterval(orphaned);
    ecr?.destroy();
    if (settings.workdir === undefined) await rm(workdir, { recursive: true, force: true });
  }
}

async function reportBadEnv(sfn: SFNClient, error: unknown): Promise<number> {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`stepline: ${message}`);
  const taskToken = process.env.STEPLINE_TASK_TOKEN;
  if (taskToken) {
    try {
      await sfn.send(
        new SendTaskFailureCommand({
          taskToken,
          error: 'TaskInputError',
          cause: fitCause(message),
        }),
      );
    } catch (reportError) {
      console.error(
        `stepline: could not report the bad environment to Step Functions: ${String(reportError)}`,
      );
    }
  }
  return 2;
}

process.exitCode = await main();
