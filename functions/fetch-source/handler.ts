import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { awsSecretResolver } from '#shared/secrets.ts';
import { gitArchiver } from '#shared/source-archive.ts';
import { TaskRoleArnFormat } from '#shared/task-roles.ts';
import { createFetchSourceHandler, deploymentArchiver } from './create-handler.ts';

export { createFetchSourceHandler, deploymentArchiver } from './create-handler.ts';

export const FetchSourceEnv = z.object({
  /** Bucket for run artifacts: `runs/<provider>/<repository>/<run>/{source.tar.gz,stepline.json}`. */
  ARTIFACT_BUCKET: z.string().min(1),
  /** The per-repository task roles' ARN with `{kind}` and `{repository}` open (see #shared/task-roles.ts). */
  TASK_ROLE_ARN_FORMAT: TaskRoleArnFormat,
  /** The deployment configuration as JSON: which repositories, their `providerToken` and `apiUrl`. */
  STEPLINE_CONFIG: DeploymentConfigJson,
  /** `provider` (AWS: the provider's archive API) or `git` (local runtime: `git archive` of a local repository). */
  SOURCE_ARCHIVER: z.enum(['provider', 'git']).default('provider'),
  /** Largest compressed source archive stored, in MiB. */
  MAX_SOURCE_MIB: z.coerce.number().int().positive().default(500),
});

const env = parseEnv(FetchSourceEnv, process.env, 'fetch-source');
const logger = createLogger('stepline-fetch-source');
const s3 = new S3Client({});

/** FetchSource state: `{push, run}` → `$.source`. */
export const handler = createFetchSourceHandler({
  s3,
  bucket: env.ARTIFACT_BUCKET,
  taskRoleArnFormat: env.TASK_ROLE_ARN_FORMAT,
  config: env.STEPLINE_CONFIG,
  archiver:
    env.SOURCE_ARCHIVER === 'git'
      ? gitArchiver()
      : deploymentArchiver(env.STEPLINE_CONFIG, awsSecretResolver()),
  logger,
  maxSourceBytes: env.MAX_SOURCE_MIB * 1024 * 1024,
});
