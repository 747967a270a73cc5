import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
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
  /** Called when a task process ends; `reported` is false when it exited before its result. */
  onExit?: (info: {
    executionName: string;
    stateName: string;
    code: number | null;
    signal: string | null;
  }) => void;
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
  const log = createWriteStream(join(logDir, `${ctx.stateName}.log`));
  const child = spawn(process.execPath, ['--enable-source-maps', options.runnerPath], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      ...options.taskEnv,
      ...overrides,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const stop = () => child.kill('SIGTERM');
  ctx.signal.addEventListener('abort', stop, { once: true });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.once('exit', (code, signal) => {
    ctx.signal.removeEventListener('abort', stop);
    log.end();
    options.onExit?.({ executionName: ctx.executionName, stateName: ctx.stateName, code, signal });
  });
  return {
    taskArn: `arn:aws:ecs:local:000000000000:task/${parsed.data.Cluster.split('/').at(-1)}/${child.pid}`,
  };
}
