import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream';
import { z } from 'zod';
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
 * ECS RunTask stand-in: starts the runner as a child process with the container overrides as
 * its environment, as Fargate would start the container. Resolves once the process is launched;
 * the result comes back through the task token, as on AWS.
 */
export async function launchOnHost(input: unknown, ctx: LaunchContext, options: HostExecutorOptions) {
  const parsed = RunTaskRequest.safeParse(input);
  if (!parsed.success)
    throw new TaskInputError(`ecs:runTask parameters: ${formatZodError(parsed.error).join('; ')}`);
  const [container] = parsed.data.Overrides.ContainerOverrides;
  const overrides = Object.fromEntries(container!.Environment.map((e) => [e.Name, e.Value]));
  const logDir = join(options.logDir, ctx.executionName);
  await mkdir(logDir, { recursive: true });
  ctx.signal.throwIfAborted();
  const child = spawn(process.execPath, ['--enable-source-maps', options.runnerPath], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ...options.taskEnv,
      ...overrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => child.kill('SIGTERM');
  ctx.signal.addEventListener('abort', stop, { once: true });
  const logPath = join(logDir, `${ctx.stateName}.log`);
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
    ctx.signal.removeEventListener('abort', stop);
    log.end();
    throw error;
  }
  child.on('error', (error) => {
    options.logger?.warn('the task process reported an error', { logPath, error: String(error) });
  });
  // 'close' rather than 'exit': output still in the pipes when the process exits is read after it.
  child.once('close', (code, signal) => {
    ctx.signal.removeEventListener('abort', stop);
    log.end();
    finished(log, () =>
      options.onExit?.({ executionName: ctx.executionName, stateName: ctx.stateName, code, signal }),
    );
  });
  return {
    taskArn: `arn:aws:ecs:local:000000000000:task/${parsed.data.Cluster.split('/').at(-1)}/${child.pid}`,
  };
}
