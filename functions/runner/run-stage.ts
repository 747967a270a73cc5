import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import {
  BuildFailedError,
  PipelineConfigError,
  SourceFetchError,
  StageTimeoutError,
  TaskInputError,
  TestsFailedError,
} from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import {
  artifactsKey,
  cacheKey,
  cacheScope,
  describeScope,
  logKey,
  type RunRef,
} from '#shared/object-keys.ts';
import { fitJsonString, jsonStringBytes, maxCauseJsonBytes } from '#shared/payload-budget.ts';
import { PipelineConfig } from '#shared/pipeline-config.ts';
import { computeCacheKey, runnerPlatform } from './cache.ts';
import { killAllProcessGroups, runCommand } from './exec.ts';
import { findFiles } from './files.ts';
import { emptyJUnitSummary, type JUnitSummary, mergeJUnit, parseJUnit } from './junit.ts';
import { objectExists, packToFile, putFile, readObjectText, unpackObject } from './objects.ts';
import { type PublishDeps, publishImage } from './publish.ts';
import { fitStageResult } from './result-budget.ts';
import { openSandbox, type SandboxMode } from './sandbox.ts';
import type { StageInput } from './stage-input.ts';
import { StageLog } from './stage-log.ts';
import type { CommandResult, StageResult } from './stage-result.ts';

export interface RunnerDeps {
  s3: Pick<S3Client, 'send'>;
  sfn: Pick<SFNClient, 'send'>;
  /** The artifact bucket: sources, configs, artifacts, logs and caches. */
  bucket: string;
  /** Where the source is unpacked and the commands run. Created if missing. */
  workdir: string;
  heartbeatMs: number;
  /** Prints one line to the runner's output (stdout; CloudWatch on AWS). */
  log: (line: string) => void;
  now: () => number;
  /** Aborting (e.g. on SIGTERM) kills the running command and fails the stage. */
  signal?: AbortSignal;
  /** Cache archives larger than this are not saved. @default no limit */
  cacheMaxBytes?: number;
  /** How often the log object is rewritten during the stage. @default 5000 */
  logFlushMs?: number;
  /** Registry settings and clients of the publish stage. */
  publisher?: PublishDeps;
  /** How the commands are sandboxed (`STEPLINE_SANDBOX`, see sandbox.ts). @default 'auto' */
  sandbox?: SandboxMode;
}

/**
 * The stage's result could not be delivered to Step Functions: the token is dead (the state
 * timed out or the execution stopped) or SendTask* itself failed. The runner exits non-zero.
 */
export class TaskReportError extends Error {
  override name = 'TaskReportError';
}

/** Step Functions' limit on a task failure's `cause`. */
export const maxCauseLength = 32_768;
const maxErrorNameLength = 256;
const deadTokenErrors = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

/**
 * Runs one stage of a run and reports it to Step Functions: `SendTaskSuccess` with the
 * `StageResult`, or `SendTaskFailure` named after the typed error with the log tail as cause.
 * Resolves with the result once delivered; rejects with the stage's error once that failure is
 * delivered, or with `TaskReportError` when nothing could be delivered.
 */
export async function runStage(input: StageInput, deps: RunnerDeps): Promise<StageResult> {
  const log = new StageLog({
    s3: deps.s3,
    bucket: deps.bucket,
    key: logKey(runRefOf(input), input.stage),
    now: deps.now,
    print: deps.log,
    flushMs: deps.logFlushMs ?? 5000,
  });
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(deps.signal?.reason);
  if (deps.signal?.aborted) onOuterAbort();
  deps.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let tokenDead: Error | undefined;
  const heartbeats = startHeartbeats(deps, input.taskToken, (error) => {
    tokenDead = error;
    log.line(`stepline: Step Functions no longer waits for this task (${error.name}); stopping`);
    abort.abort(new TaskReportError(`the task token is no longer valid: ${error.name}`, { cause: error }));
  });
  log.startFlushing();

  let result: StageResult | undefined;
  let failure: unknown;
  try {
    result = await executeStage(input, deps, log, abort.signal);
  } catch (error) {
    failure = error;
    log.line(`stepline: ${input.stage} failed: ${describe(error)}`);
  } finally {
    heartbeats.stop();
    killAllProcessGroups();
    deps.signal?.removeEventListener('abort', onOuterAbort);
  }
  await log.upload();

  if (tokenDead) {
    throw new TaskReportError(`not reporting the ${input.stage} stage: Step Functions stopped waiting`, {
      cause: tokenDead,
    });
  }
  if (result) {
    await report(
      deps,
      new SendTaskSuccessCommand({
        taskToken: input.taskToken,
        output: JSON.stringify(fitStageResult(result)),
      }),
    );
    return result;
  }
  await report(
    deps,
    new SendTaskFailureCommand({
      taskToken: input.taskToken,
      error: errorName(failure).slice(0, maxErrorNameLength),
      cause: failureCause(failure, log.tail()),
    }),
  );
  throw failure;
}

/**
 * `<message>\n--- last lines of the log ---\n<tail>`, cut (the message's end, the tail's start) to
 * the cause's payload budget: the execution state carries it, and the whole log is in S3.
 */
export function failureCause(error: unknown, tail: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const head = `${fitJsonString(message, maxCauseJsonBytes / 2)}\n--- last lines of the log ---\n`;
  return head + fitJsonString(tail, maxCauseJsonBytes - jsonStringBytes(head) + 2, 'end');
}

function errorName(error: unknown): string {
  return error instanceof Error && error.name ? error.name : 'Error';
}

async function report(
  deps: RunnerDeps,
  command: SendTaskSuccessCommand | SendTaskFailureCommand,
): Promise<void> {
  try {
    await deps.sfn.send(command as SendTaskSuccessCommand);
  } catch (error) {
    throw new TaskReportError(`could not report the stage to Step Functions: ${describe(error)}`, {
      cause: error,
    });
  }
}

/**
 * Beats once at once, then every `heartbeatMs`. The first beat cannot wait an interval: the
 * state's HeartbeatSeconds clock has been running since RunTask, through Fargate provisioning and
 * the image pull (see docs/runner.md), so the margin left when the runner starts is small.
 */
function startHeartbeats(deps: RunnerDeps, taskToken: string, onDeadToken: (error: Error) => void) {
  let inFlight = false;
  const beat = () => {
    if (inFlight) return;
    inFlight = true;
    deps.sfn
      .send(new SendTaskHeartbeatCommand({ taskToken }))
      .catch((error: unknown) => {
        if (error instanceof Error && deadTokenErrors.has(error.name)) onDeadToken(error);
        else deps.log(`stepline: heartbeat failed, will retry: ${describe(error)}`);
      })
      .finally(() => {
        inFlight = false;
      });
  };
  beat();
  const timer = setInterval(beat, deps.heartbeatMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

async function executeStage(
  input: StageInput,
  deps: RunnerDeps,
  log: StageLog,
  signal: AbortSignal,
): Promise<StageResult> {
  const startedAt = deps.now();
  const { s3, bucket, workdir } = deps;
  const warn = (message: string) => log.line(`stepline: warning: ${message}`);
  log.line(`stepline: ${input.stage} stage of ${input.repository} at ${input.commit} (run ${input.run})`);

  await mkdir(workdir, { recursive: true });
  if (!(await unpackObject(s3, bucket, input.sourceKey, workdir, warn))) {
    throw new SourceFetchError(`the source archive s3://${bucket}/${input.sourceKey} does not exist`);
  }
  log.line(`stepline: source unpacked into ${workdir}`);
  const config = await readPipelineConfig(deps, input.configKey);
  signal.throwIfAborted();

  if (input.stage !== 'build') {
    const key = artifactsKey(runRefOf(input));
    const restored = await unpackObject(s3, bucket, key, workdir, warn);
    log.line(restored ? `stepline: build artifacts unpacked from ${key}` : 'stepline: no build artifacts');
  }
  if (input.stage === 'publish') {
    if (!deps.publisher)
      throw new TaskInputError('the publish stage needs the publisher settings (STEPLINE_REGISTRY, …)');
    const image = await publishImage(
      { input, config, workdir, log: (line) => log.line(line), signal },
      deps.publisher,
    );
    return { ...emptyResult(input, log.key, deps.now() - startedAt), image };
  }
  const stage = input.stage === 'build' ? config.build : config.test;
  if (stage.image) {
    // Said plainly, not skipped silently: per-stage runner images need a task-definition
    // revision per image, which this release does not register yet.
    warn(
      `${input.stage}.image "${stage.image}" is not honoured yet: the commands run in this runner's own image`,
    );
  }
  signal.throwIfAborted();

  const scratch = await mkdtemp(join(tmpdir(), 'stepline-runner-'));
  const sandboxes: { close(): Promise<void> }[] = [];
  try {
    let cache: RestoredCache | undefined;
    if (stage.cache) {
      const { key, missing } = await computeCacheKey(workdir, input.stage, stage.cache.key);
      if (missing.length > 0) log.line(`stepline: cache key files not found: ${missing.join(', ')}`);
      cache = await restoreCache(deps, input, key, warn);
      log.line(
        cache.restoredFrom
          ? `stepline: cache restored from ${describeScope(cache.restoredFrom)} (key ${key.slice(0, 12)})`
          : `stepline: cache miss (looked in ${cache.searched.map(describeScope).join(', then ')})`,
      );
    }

    const sandbox = await openSandbox(deps.sandbox ?? 'auto', { workdir });
    sandboxes.push(sandbox);
    log.line(sandbox.summary);
    if (sandbox.warning) warn(sandbox.warning);
    await sandbox.prepare();
    const commands: CommandResult[] = [];
    const env = commandEnv(process.env, stage.env, input);
    const deadline = deps.now() + stage.timeout * 1000;
    let failedCommand: CommandResult | undefined;
    for (const command of stage.commands) {
      signal.throwIfAborted();
      log.line(`$ ${command}`);
      const started = deps.now();
      const exit = await runCommand(command, {
        cwd: workdir,
        env,
        timeoutMs: deadline - started,
        onLine: (line) => log.line(line),
        signal,
        sandbox,
      });
      const ran = { command, exitCode: exit.exitCode, durationMs: deps.now() - started };
      commands.push(ran);
      log.line(`stepline: \`${command}\` exited with code ${ran.exitCode} after ${seconds(ran.durationMs)}`);
      if (exit.timedOut) {
        throw new StageTimeoutError(
          `the ${input.stage} stage ran past its timeout of ${stage.timeout} s while running \`${command}\``,
        );
      }
      if (ran.exitCode !== 0) {
        failedCommand = ran;
        break;
      }
    }
    // What the commands left running ends before the runner reads and packs the workspace, so
    // nothing can swap a file under it (a report for a symlink, an artifact mid-pack).
    killAllProcessGroups();
    const commandsMs = commands.reduce((sum, c) => sum + c.durationMs, 0);

    let tests: StageResult['tests'];
    if (input.stage === 'test') {
      tests = await readReports(workdir, config.test.reports, log);
      throwIfTestsFailed(tests, failedCommand);
    } else if (failedCommand) {
      throw new BuildFailedError(
        `build command \`${failedCommand.command}\` exited with code ${failedCommand.exitCode}`,
      );
    }

    let cacheResult: StageResult['cache'];
    if (stage.cache && cache) {
      // Saved to the run's own scope only; a restore from the default branch still saves here.
      const ownHit = cache.restoredFrom === cache.scope;
      const saved = ownHit ? false : await saveCache(deps, stage.cache.paths, cache.objectKey, scratch, log);
      cacheResult = {
        key: cache.key,
        scope: cache.scope,
        restored: cache.restoredFrom !== undefined,
        ...(cache.restoredFrom ? { restoredFrom: cache.restoredFrom } : {}),
        saved,
      };
    }

    let artifacts: StageResult['artifacts'];
    if (input.stage === 'build' && config.build.artifacts.length > 0) {
      artifacts = await uploadArtifacts(deps, runRefOf(input), config.build.artifacts, scratch, log);
    }

    return {
      stage: input.stage,
      commit: input.commit,
      durationMs: deps.now() - startedAt,
      commandsMs,
      commands,
      logKey: log.key,
      ...(cacheResult ? { cache: cacheResult } : {}),
      ...(artifacts ? { artifacts } : {}),
      ...(tests ? { tests } : {}),
    };
  } finally {
    killAllProcessGroups();
    for (const sandbox of sandboxes) await sandbox.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

function emptyResult(input: StageInput, logKey: string, durationMs: number): StageResult {
  return { stage: input.stage, commit: input.commit, durationMs, commandsMs: 0, commands: [], logKey };
}

async function readPipelineConfig(deps: RunnerDeps, key: string): Promise<PipelineConfig> {
  const text = await readObjectText(deps.s3, deps.bucket, key);
  if (text === undefined) {
    throw new PipelineConfigError(`the pipeline config s3://${deps.bucket}/${key} does not exist`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PipelineConfigError(`the pipeline config ${key} is not JSON: ${describe(error)}`);
  }
  const parsed = PipelineConfig.safeParse(json);
  if (!parsed.success) {
    throw new PipelineConfigError(`invalid pipeline config:\n${formatZodError(parsed.error).join('\n')}`);
  }
  return parsed.data;
}

/**
 * The user's commands see the runner's environment without the task token, any other
 * STEPLINE_* setting, AWS credentials, the ECS metadata endpoints or the bucket, plus the stage's
 * `env`, `CI=true` and the run's identity.
 */
export function commandEnv(
  base: NodeJS.ProcessEnv,
  stageEnv: Record<string, string>,
  input: Pick<StageInput, 'stage' | 'commit' | 'run' | 'repository'>,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (name.startsWith('STEPLINE_')) continue;
    if (name.startsWith('AWS_') && name !== 'AWS_REGION' && name !== 'AWS_DEFAULT_REGION') continue;
    if (name.startsWith('ECS_') || name === 'ARTIFACT_BUCKET') continue;
    env[name] = value;
  }
  return {
    ...env,
    ...stageEnv,
    CI: 'true',
    STEPLINE_STAGE: input.stage,
    STEPLINE_COMMIT: input.commit,
    STEPLINE_RUN: input.run,
    STEPLINE_REPOSITORY: input.repository,
  };
}

/**
 * Reads a file the commands wrote, never through a symlink: the runner may be root, the commands
 * the build user, and a report linked to `/etc/shadow` or the data directory must not be read.
 */
async function readOwnFile(path: string): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

async function readReports(
  workdir: string,
  globs: readonly string[],
  log: StageLog,
): Promise<NonNullable<StageResult['tests']>> {
  const files = await findFiles(workdir, globs);
  let summary: JUnitSummary = emptyJUnitSummary();
  for (const file of files) {
    let xml: string;
    try {
      xml = await readOwnFile(join(workdir, file.path));
    } catch (error) {
      log.line(`stepline: warning: skipped report ${file.path}: ${describe(error)}`);
      continue;
    }
    try {
      summary = mergeJUnit(summary, parseJUnit(xml));
    } catch (error) {
      log.line(`stepline: warning: skipped report ${file.path}: ${describe(error)}`);
    }
  }
  const note = globs.length > 0 && files.length === 0 ? `no report matched ${globs.join(', ')}` : undefined;
  if (note) log.line(`stepline: ${note}`);
  if (files.length > 0) {
    log.line(
      `stepline: ${files.length} report(s): ${summary.total} tests, ${summary.passed} passed, ${summary.failed} failed, ${summary.errors} errors, ${summary.skipped} skipped`,
    );
  }
  return { ...summary, reports: files.length, ...(note ? { note } : {}) };
}

function throwIfTestsFailed(
  tests: NonNullable<StageResult['tests']>,
  failedCommand: CommandResult | undefined,
): void {
  const broken = tests.failed + tests.errors;
  if (broken === 0 && !failedCommand) return;
  const parts: string[] = [];
  if (failedCommand) {
    parts.push(`test command \`${failedCommand.command}\` exited with code ${failedCommand.exitCode}`);
  }
  if (broken > 0) {
    const listed = tests.failures.map(
      (f) => `  ✖ ${f.suite ? `${f.suite} › ` : ''}${f.name}${f.message ? `: ${f.message}` : ''}`,
    );
    const more = broken > tests.failures.length ? [`  … and ${broken - tests.failures.length} more`] : [];
    parts.push(`${broken} of ${tests.total} tests failed:\n${[...listed, ...more].join('\n')}`);
  }
  throw new TestsFailedError(parts.join('; '));
}

interface RestoredCache {
  key: string;
  /** The run's own scope, the only one it saves to. */
  scope: string;
  /** Where the run saves: the key in its own scope. */
  objectKey: string;
  /** The scopes looked in, in order: own, then the default branch's unless it is the same. */
  searched: string[];
  /** The scope whose archive was unpacked; undefined on a miss. */
  restoredFrom?: string;
}

/**
 * Unpacks the cache archive of the run's own scope or, failing that, of the default branch's.
 * Never any other scope: a branch's cache is visible only to itself and, for the default
 * branch, to everyone.
 */
async function restoreCache(
  deps: RunnerDeps,
  input: StageInput,
  key: string,
  warn: (message: string) => void,
): Promise<RestoredCache> {
  const scope = cacheScope(input.refType, input.refName);
  const fallback = input.defaultBranch === '' ? scope : cacheScope('branch', input.defaultBranch);
  const objectKey = cacheKey(input, scope, input.stage, key);
  const searched = fallback === scope ? [scope] : [scope, fallback];
  for (const candidate of searched) {
    const candidateKey = cacheKey(input, candidate, input.stage, key);
    if (await unpackObject(deps.s3, deps.bucket, candidateKey, deps.workdir, warn)) {
      return { key, scope, objectKey, searched, restoredFrom: candidate };
    }
  }
  return { key, scope, objectKey, searched };
}

async function saveCache(
  deps: RunnerDeps,
  paths: readonly string[],
  objectKey: string,
  scratch: string,
  log: StageLog,
): Promise<boolean> {
  if (await objectExists(deps.s3, deps.bucket, objectKey)) {
    log.line('stepline: cache not saved: another run already saved this key');
    return false;
  }
  const present = (
    await Promise.all(paths.map(async (p) => ((await exists(deps.workdir, p)) ? p : '')))
  ).filter((p) => p !== '');
  if (present.length === 0) {
    log.line(`stepline: cache not saved: none of ${paths.join(', ')} exists`);
    return false;
  }
  const file = join(scratch, 'cache.tar.gz');
  const bytes = await packToFile(deps.workdir, present, file);
  if (deps.cacheMaxBytes !== undefined && bytes > deps.cacheMaxBytes) {
    log.line(`stepline: cache not saved: ${mib(bytes)} is over the ${mib(deps.cacheMaxBytes)} limit`);
    return false;
  }
  await putFile(deps.s3, deps.bucket, objectKey, file);
  log.line(`stepline: cache saved (${present.join(', ')}, ${mib(bytes)}, ${runnerPlatform})`);
  return true;
}

async function uploadArtifacts(
  deps: RunnerDeps,
  run: RunRef,
  globs: readonly string[],
  scratch: string,
  log: StageLog,
): Promise<NonNullable<StageResult['artifacts']>> {
  const files = await findFiles(deps.workdir, globs);
  const key = artifactsKey(run);
  const file = join(scratch, 'artifacts.tar.gz');
  // An empty archive still replaces whatever an earlier attempt of this run stored.
  await packToFile(
    deps.workdir,
    files.map((f) => f.path),
    file,
  );
  await putFile(deps.s3, deps.bucket, key, file);
  const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
  if (files.length === 0) log.line(`stepline: warning: no file matched build.artifacts ${globs.join(', ')}`);
  log.line(`stepline: artifacts uploaded to ${key}: ${files.length} file(s), ${bytes} bytes`);
  return { key, files: files.length, bytes };
}

/** The run's keys (#shared/object-keys.ts) are under `runs/<provider>/<repository>/<run>/`. */
export function runRefOf(input: Pick<StageInput, 'provider' | 'repository' | 'run'>): RunRef {
  return { provider: input.provider, repository: input.repository, run: input.run };
}

async function exists(dir: string, path: string): Promise<boolean> {
  return lstat(join(dir, path)).then(
    () => true,
    () => false,
  );
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
