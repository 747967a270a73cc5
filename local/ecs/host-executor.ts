import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream';
import { z } from 'zod';
import { buildSessionOf, killSession } from '#functions/runner/sandbox-processes.ts';
import { TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';

/** The part of an `ecs:runTask` request the host executor honours. */
export const RunTaskRequest = z.object({
  Cluster: z.string().min(1),
  TaskDefinition: z.string().min(1),
  Overrides: z.object({
    ContainerOverrides: z
      .array(
        z.object({
          Name: z.string().min(1),
          Environment: z.array(z.object({ Name: z.string().min(1), Value: z.string() })).default([]),
        }),
      )
      .min(1),
  }),
});
export type RunTaskRequest = z.infer<typeof RunTaskRequest>;

export interface HostExecutorOptions {
  /** The bundled runner (see bundleRunner). */
  runnerPath: string;
  /** Environment of the task definition: bucket, endpoints of the local stand-ins, credentials. */
  taskEnv: Record<string, string>;
  /** Where each task's stdout/stderr goes: `<logDir>/<execution>/<state>.log`. */
  logDir: string;
  /** Called once a task process has ended and all its output is in its log. */
  onExit?: (info: {
    executionName: string;
    stateName: string;
    code: number | null;
    signal: string | null;
  }) => void;
  /** Told when a task log cannot be written; the task itself goes on. */
  logger?: { warn(message: string, ...extra: Record<string, unknown>[]): void };
}

export interface LaunchContext {
  executionName: string;
  stateName: string;
  signal: AbortSignal;
}

/**
 * ECS RunTask stand-in for one state's task (kept for callers that hold the ASL parameters and no
 * task definition): starts the runner with ContainerOverrides[0] as its environment.
 */
export async function launchOnHost(input: unknown, ctx: LaunchContext, options: HostExecutorOptions) {
  const parsed = RunTaskRequest.safeParse(input);
  if (!parsed.success)
    throw new TaskInputError(`ecs:runTask parameters: ${formatZodError(parsed.error).join('; ')}`);
  const [container] = parsed.data.Overrides.ContainerOverrides;
  const overrides = Object.fromEntries(container!.Environment.map((e) => [e.Name, e.Value]));
  const { pid } = await spawnRunner({
    runnerPath: options.runnerPath,
    env: { ...options.taskEnv, ...overrides },
    logPath: join(options.logDir, ctx.executionName, `${ctx.stateName}.log`),
    signal: ctx.signal,
    ...(options.logger ? { logger: options.logger } : {}),
    onExit: ({ code, signal }) =>
      options.onExit?.({ executionName: ctx.executionName, stateName: ctx.stateName, code, signal }),
  });
  return {
    taskArn: `arn:aws:ecs:local:000000000000:task/${parsed.data.Cluster.split('/').at(-1)}/${pid}`,
  };
}

export interface SpawnRunnerOptions {
  /** The bundled runner (see bundleRunner). */
  runnerPath: string;
  /** The container's whole environment (task definition, then overrides). */
  env: Record<string, string>;
  /** stdout and stderr go here. */
  logPath: string;
  /** Aborting it stops the runner (SIGTERM). */
  signal?: AbortSignal;
  /** Called once the process has ended and all its output is in the log. */
  onExit?: (exit: { code: number | null; signal: string | null }) => void;
  logger?: { warn(message: string, ...extra: Record<string, unknown>[]): void };
}

/**
 * Starts the bundled runner as a child process with `env` as its environment (plus PATH, HOME
 * and the runtime's STEPLINE_SANDBOX), as Fargate would start the runner's container. Resolves once the process is launched.
 *
 * When the runner ends, however it ends (SIGKILL included), what its commands left behind ends
 * too, as a Fargate task's processes end with the task: in bubblewrap the commands' PID namespace
 * dies with the runner (`--die-with-parent`); without it, every process still carrying the
 * runner's build session in its environment (sandbox-processes.ts) is killed here.
 */
export async function spawnRunner(
  options: SpawnRunnerOptions,
): Promise<{ pid: number | undefined; stop(): void }> {
  await mkdir(dirname(options.logPath), { recursive: true });
  options.signal?.throwIfAborted();
  const child = spawn(process.execPath, ['--enable-source-maps', options.runnerPath], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      // What the runner image's ENV sets on Fargate: `STEPLINE_SANDBOX=none stepline serve` turns
      // the sandbox off for a machine where it gets in the way (the stage logs then warn).
      ...(process.env.STEPLINE_SANDBOX ? { STEPLINE_SANDBOX: process.env.STEPLINE_SANDBOX } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const session = child.pid === undefined ? undefined : buildSessionOf(child.pid);
  child.once('exit', () => {
    if (session) killSession(session);
  });
  const stop = () => child.kill('SIGTERM');
  options.signal?.addEventListener('abort', stop, { once: true });
  const logPath = options.logPath;
  const log = createWriteStream(logPath);
  log.on('error', (error) => {
    options.logger?.warn('cannot write a task log; the rest of its output is dropped', {
      logPath,
      error: String(error),
    });
    // Keep reading the pipes, or the runner would block once they are full.
    child.stdout.resume();
    child.stderr.resume();
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (error) {
    options.signal?.removeEventListener('abort', stop);
    log.end();
    throw error;
  }
  child.on('error', (error) => {
    options.logger?.warn('the task process reported an error', { logPath, error: String(error) });
  });
  // 'close' rather than 'exit': output still in the pipes when the process exits is read after it.
  child.once('close', (code, signal) => {
    options.signal?.removeEventListener('abort', stop);
    log.end();
    finished(log, () => options.onExit?.({ code, signal }));
  });
  return { pid: child.pid, stop };
}
