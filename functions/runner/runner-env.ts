import * as z from 'zod';
import { ImageRepositoryName } from '#shared/deployment-config.ts';
import { TaskInputError } from '#shared/errors.ts';
import { formatPath } from '#shared/format-zod-error.ts';
import { SandboxMode } from './sandbox.ts';
import { StageInput } from './stage-input.ts';

const secretNames = new Set(['STEPLINE_TASK_TOKEN']);

/** The runner's environment, as the state machine's container overrides and the task definition set it. */
export const RunnerEnv = z.object({
  STEPLINE_TASK_TOKEN: StageInput.shape.taskToken,
  STEPLINE_STAGE: StageInput.shape.stage,
  STEPLINE_RUN: StageInput.shape.run,
  STEPLINE_PROVIDER: StageInput.shape.provider,
  STEPLINE_REPOSITORY: StageInput.shape.repository,
  STEPLINE_COMMIT: StageInput.shape.commit,
  STEPLINE_REF_TYPE: StageInput.shape.refType,
  STEPLINE_REF_NAME: StageInput.shape.refName,
  STEPLINE_SOURCE_KEY: StageInput.shape.sourceKey,
  STEPLINE_CONFIG_KEY: StageInput.shape.configKey,
  ARTIFACT_BUCKET: z.string().min(1),
  /** The repository's default branch from the provider's payload; empty or unset: no fallback scope. */
  STEPLINE_DEFAULT_BRANCH: StageInput.shape.defaultBranch.default(''),
  /** @default 20 (the state machine's HeartbeatSeconds is 120) */
  STEPLINE_HEARTBEAT_SECONDS: z.coerce.number().positive().default(20),
  /** @default a new temporary directory, removed at the end */
  STEPLINE_WORKDIR: z.string().min(1).optional(),
  /** Cache archives over this size are not saved. @default no limit */
  STEPLINE_CACHE_MAX_MB: z.coerce.number().positive().optional(),
  /** How the user's commands are sandboxed: auto, bwrap, user or none (see sandbox.ts). @default auto */
  STEPLINE_SANDBOX: SandboxMode.default('auto'),
});
export type RunnerEnv = z.infer<typeof RunnerEnv>;

/**
 * The PublishImage stage's settings, required for that stage only. The state machine passes the
 * first three (from the deployment configuration and the push); the publisher task definition
 * (CDK stack or local runtime) sets the others.
 */
export const PublisherEnv = z.object({
  /** Repository inside `STEPLINE_REGISTRY`, e.g. `acme/hello-service`: the deployment's choice. */
  STEPLINE_IMAGE_REPOSITORY: ImageRepositoryName,
  /** The commit's time: every mtime in the layer, `created` and the created label. */
  STEPLINE_COMMIT_TIME: z
    .string()
    .refine(
      (value) => !Number.isNaN(Date.parse(value)),
      'expected an ISO 8601 time such as 2024-05-01T12:00:00Z',
    ),
  /** The repository's clone URL, for the source label; empty: no label. */
  STEPLINE_SOURCE_URL: z.string(),
  /** `host[:port]` images are pushed to. */
  STEPLINE_REGISTRY: z
    .string()
    .regex(
      /^[A-Za-z0-9.-]+(:\d+)?$/,
      'expected host[:port], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    ),
  /** `ecr`: Basic from ECR GetAuthorizationToken; `anonymous`/`challenge`: no credentials (Bearer challenges answered anonymously). */
  STEPLINE_REGISTRY_AUTH: z.enum(['ecr', 'anonymous', 'challenge']),
  /** `true`: plain http (loopback registries). @default false */
  STEPLINE_REGISTRY_INSECURE: z.enum(['true', 'false']).default('false'),
  /** Where short base names resolve: `host[:port][/path]`, e.g. `public.ecr.aws/docker/library`. */
  STEPLINE_BASE_REGISTRY: z
    .string()
    .regex(
      /^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/,
      'expected host[:port][/path], e.g. public.ecr.aws/docker/library',
    ),
  /** `os/arch[/variant]` picked from a base image index, e.g. `linux/arm64`. */
  STEPLINE_PLATFORM: z
    .string()
    .regex(/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/, 'expected os/arch such as linux/arm64'),
});

export interface PublisherSettings {
  imageRepository: string;
  commitTime: Date;
  sourceUrl: string;
  registry: string;
  registryAuth: 'ecr' | 'anonymous' | 'challenge';
  registryInsecure: boolean;
  baseRegistry: string;
  platform: string;
}

export interface RunnerSettings {
  input: StageInput;
  bucket: string;
  heartbeatMs: number;
  workdir?: string;
  cacheMaxBytes?: number;
  sandbox: SandboxMode;
  /** Set for the publish stage only. */
  publisher?: PublisherSettings;
}

/**
 * Reads the runner's settings from its environment. Throws `TaskInputError` with one line per bad
 * variable, naming it and its value (the task token's value is never shown).
 */
export function parseRunnerEnv(env: NodeJS.ProcessEnv): RunnerSettings {
  const parsed = RunnerEnv.safeParse(env);
  const publisher = env.STEPLINE_STAGE === 'publish' ? PublisherEnv.safeParse(env) : undefined;
  const issues = [...(parsed.error?.issues ?? []), ...(publisher?.error?.issues ?? [])];
  if (!parsed.success || issues.length > 0) {
    const lines = issues.map((issue) => {
      const name = formatPath(issue.path);
      const value = env[name];
      const shown =
        value === undefined
          ? 'not set'
          : secretNames.has(name)
            ? 'value hidden'
            : `got ${JSON.stringify(value)}`;
      return `${name}: ${issue.message} (${shown})`;
    });
    throw new TaskInputError(`the runner's environment is invalid:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const p = publisher?.data;
  return {
    input: {
      taskToken: e.STEPLINE_TASK_TOKEN,
      stage: e.STEPLINE_STAGE,
      run: e.STEPLINE_RUN,
      provider: e.STEPLINE_PROVIDER,
      repository: e.STEPLINE_REPOSITORY,
      commit: e.STEPLINE_COMMIT,
      refType: e.STEPLINE_REF_TYPE,
      refName: e.STEPLINE_REF_NAME,
      defaultBranch: e.STEPLINE_DEFAULT_BRANCH,
      sourceKey: e.STEPLINE_SOURCE_KEY,
      configKey: e.STEPLINE_CONFIG_KEY,
    },
    bucket: e.ARTIFACT_BUCKET,
    heartbeatMs: e.STEPLINE_HEARTBEAT_SECONDS * 1000,
    sandbox: e.STEPLINE_SANDBOX,
    ...(e.STEPLINE_WORKDIR ? { workdir: e.STEPLINE_WORKDIR } : {}),
    ...(e.STEPLINE_CACHE_MAX_MB ? { cacheMaxBytes: Math.round(e.STEPLINE_CACHE_MAX_MB * 1024 * 1024) } : {}),
    ...(p
      ? {
          publisher: {
            imageRepository: p.STEPLINE_IMAGE_REPOSITORY,
            commitTime: new Date(p.STEPLINE_COMMIT_TIME),
            sourceUrl: p.STEPLINE_SOURCE_URL,
            registry: p.STEPLINE_REGISTRY,
            registryAuth: p.STEPLINE_REGISTRY_AUTH,
            registryInsecure: p.STEPLINE_REGISTRY_INSECURE === 'true',
            baseRegistry: p.STEPLINE_BASE_REGISTRY,
            platform: p.STEPLINE_PLATFORM,
          },
        }
      : {}),
  };
}
