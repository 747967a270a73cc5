import { z } from 'zod';
import { TaskInputError } from '#shared/errors.ts';
import { formatPath } from '#shared/format-zod-error.ts';
import { StageInput } from './stage-input.ts';

const secretNames = new Set(['STEPLINE_TASK_TOKEN']);

/** The runner's environment, as the state machine's container overrides and the task definition set it. */
export const RunnerEnv = z.object({
  STEPLINE_TASK_TOKEN: StageInput.shape.taskToken,
  STEPLINE_STAGE: StageInput.shape.stage,
  STEPLINE_RUN: StageInput.shape.run,
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
});
export type RunnerEnv = z.infer<typeof RunnerEnv>;

export interface RunnerSettings {
  input: StageInput;
  bucket: string;
  heartbeatMs: number;
  workdir?: string;
  cacheMaxBytes?: number;
}

/**
 * Reads the runner's settings from its environment. Throws `TaskInputError` with one line per bad
 * variable, naming it and its value (the task token's value is never shown).
 */
export function parseRunnerEnv(env: NodeJS.ProcessEnv): RunnerSettings {
  const parsed = RunnerEnv.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
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
  return {
    input: {
      taskToken: e.STEPLINE_TASK_TOKEN,
      stage: e.STEPLINE_STAGE,
      run: e.STEPLINE_RUN,
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
    ...(e.STEPLINE_WORKDIR ? { workdir: e.STEPLINE_WORKDIR } : {}),
    ...(e.STEPLINE_CACHE_MAX_MB ? { cacheMaxBytes: Math.round(e.STEPLINE_CACHE_MAX_MB * 1024 * 1024) } : {}),
  };
}
