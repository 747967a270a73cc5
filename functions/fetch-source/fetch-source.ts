import type { Logger } from '@aws-lambda-powertools/logger';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import {
  type DeploymentConfig,
  findRepositoryConfig,
  imageRepositoryFor,
} from '#shared/deployment-config.ts';
import { PipelineConfigError, PipelineError, SourceFetchError, TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { configKey as configKeyOf, sourceKey as sourceKeyOf } from '#shared/object-keys.ts';
import type { PipelineConfig } from '#shared/pipeline-config.ts';
import { PushEvent } from '#shared/push-event.ts';
import { repackSource, type SourceArchiver } from '#shared/source-archive.ts';
import { taskRoleArns } from '#shared/task-roles.ts';
import {
  checkPipelineConfig,
  describeProblems,
  maxPipelineConfigBytes,
  missingPipelineConfigMessage,
  pipelineConfigFileNames,
} from './read-pipeline-config.ts';
import { S3ObjectWriter } from './s3-object-writer.ts';

/** The run as the state machine's `PushReceived` state names it. */
export const RunInfo = z.object({
  /** The execution name; S3 keys are built from it, so only `[A-Za-z0-9_-]` is accepted. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'expected an execution name of [A-Za-z0-9_-], at most 80'),
  executionArn: z.string().min(1),
  startedAt: z.string().min(1),
});
export type RunInfo = z.infer<typeof RunInfo>;

/** What the `FetchSource` state passes (`Parameters`). */
export const FetchSourceInput = z.object({ push: PushEvent, run: RunInfo });
export type FetchSourceInput = z.infer<typeof FetchSourceInput>;

/** The deployment configuration's settings for one pushed repository, as the later states need them. */
export const DeploymentSettings = z.object({
  /** Repository name (without registry host) that PublishImage pushes to. */
  imageRepository: z.string(),
  /** `TimeoutSecondsPath` of RequestApproval. */
  approvalTimeoutSeconds: z.number().int().positive(),
  /** The role Build and Test run as (`Overrides.TaskRoleArn`): it reaches only this repository's objects. */
  runnerTaskRoleArn: z.string(),
  /** The role PublishImage runs as: this repository's objects and its own image repository only. */
  publisherTaskRoleArn: z.string(),
});
export type DeploymentSettings = z.infer<typeof DeploymentSettings>;

/** What `FetchSource` returns; the state machine keeps it at `$.source`. */
export const SourceResult = z.object({
  bucket: z.string(),
  /** `runs/<provider>/<repository>/<run>/source.tar.gz`: the commit's files, rooted at the repository root. */
  sourceKey: z.string(),
  /** `runs/<provider>/<repository>/<run>/stepline.json`: the validated stepline.yml with defaults filled in. */
  configKey: z.string(),
  commit: z.string(),
  /**
   * Size of stepline.json. The config itself stays in S3 (the runner reads it by `configKey`): the
   * execution state has no room for it (#shared/payload-budget.ts).
   */
  configBytes: z.number().int().nonnegative(),
  /** Size of the stored archive in bytes. */
  sizeBytes: z.number().int().nonnegative(),
  /** Regular files in the archive. */
  files: z.number().int().nonnegative(),
  /** What the deployment configuration (never the pushed repository) says for this push. */
  deployment: DeploymentSettings,
});
export type SourceResult = z.infer<typeof SourceResult>;

export interface FetchSourceDeps {
  s3: Pick<S3Client, 'send'>;
  /** The deployment configuration: where this push's image goes, how long an approval waits. */
  config: DeploymentConfig;
  bucket: string;
  /** Names the push's task roles (see #shared/task-roles.ts): the stack's format, or the local placeholder. */
  taskRoleArnFormat: string;
  archiver: SourceArchiver;
  logger: Pick<Logger, 'info'>;
  /** @default 500 MiB */
  maxSourceBytes?: number;
}

/** A bigger parsed config is refused: a stepline.yml should be a few lines (it stays in S3; the state holds its key). */
export const maxConfigJsonBytes = 32 * 1024;

/**
 * FetchSource: stores the pushed commit's source in S3 as a tarball rooted at the repository
 * root, and its validated stepline.yml as JSON next to it.
 * @throws TaskInputError, SourceFetchError, PipelineConfigError
 */
export async function fetchSource(event: unknown, deps: FetchSourceDeps): Promise<SourceResult> {
  const parsed = FetchSourceInput.safeParse(event);
  if (!parsed.success) {
    throw new TaskInputError(`FetchSource input is invalid:\n${formatZodError(parsed.error).join('\n')}`);
  }
  const { push, run } = parsed.data;
  const runRef = { provider: push.provider, repository: push.repository.fullName, run: run.name };
  const sourceKey = sourceKeyOf(runRef);
  const configKey = configKeyOf(runRef);
  const where = `${push.repository.fullName} at ${push.after}`;

  const source = await deps.archiver.fetch(push).catch((error: unknown) => {
    if (error instanceof PipelineError) throw error;
    throw new SourceFetchError(`fetching the source of ${where} failed: ${(error as Error).message}`, {
      cause: error,
    });
  });
  const { archive, summary } = repackSource(source, {
    capture: pipelineConfigFileNames,
    maxCaptureBytes: maxPipelineConfigBytes + 1,
  });
  const writer = new S3ObjectWriter({
    s3: deps.s3,
    bucket: deps.bucket,
    key: sourceKey,
    contentType: 'application/gzip',
    maxBytes: deps.maxSourceBytes ?? 500 * 1024 * 1024,
  });

  try {
    for await (const chunk of archive) await writer.write(chunk);
    const { files, captured } = await summary;
    const config = readConfig(captured, where);
    const configJson = JSON.stringify(config);
    if (Buffer.byteLength(configJson) > maxConfigJsonBytes) {
      throw new PipelineConfigError(
        `stepline.yml in ${where} is ${Buffer.byteLength(configJson)} bytes as JSON; the limit is ${maxConfigJsonBytes} (keep long scripts in files and call them)`,
      );
    }
    const sizeBytes = await writer.complete();
    await deps.s3.send(
      new PutObjectCommand({
        Bucket: deps.bucket,
        Key: configKey,
        Body: configJson,
        ContentType: 'application/json',
      }),
    );
    deps.logger.info('source stored', { sourceKey, configKey, sizeBytes, files, commit: push.after });
    const entry = findRepositoryConfig(deps.config, push.provider, push.repository.fullName);
    const deployment = {
      imageRepository: imageRepositoryFor(entry, push.repository.fullName),
      approvalTimeoutSeconds: entry?.approvalTimeoutSeconds ?? 86400,
      ...taskRoleArns(deps.taskRoleArnFormat, runRef),
    };
    return {
      bucket: deps.bucket,
      sourceKey,
      configKey,
      commit: push.after,
      configBytes: Buffer.byteLength(configJson),
      sizeBytes,
      files,
      deployment,
    };
  } catch (error) {
    await writer.abort();
    if (error instanceof PipelineError) throw error;
    throw new SourceFetchError(`storing the source of ${where} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function readConfig(captured: Map<string, { content: Buffer; size: number }>, where: string): PipelineConfig {
  const present = pipelineConfigFileNames.filter((name) => captured.has(name));
  const [name] = present;
  if (name === undefined) throw new PipelineConfigError(missingPipelineConfigMessage(where));
  if (present.length > 1) {
    throw new PipelineConfigError(`${where} has both ${present.join(' and ')}; keep only one`);
  }
  const file = captured.get(name)!;
  if (file.size > maxPipelineConfigBytes) {
    throw new PipelineConfigError(
      `${name} in ${where} is ${file.size} bytes; the limit is ${maxPipelineConfigBytes} (it should be a few lines)`,
    );
  }
  const check = checkPipelineConfig(file.content.toString('utf8'), name);
  if (!check.ok) throw new PipelineConfigError(describeProblems(`${name} in ${where}`, check.problems));
  return check.config;
}
