import type { TaskContext, TaskHandler } from '#local/sfn/engine.ts';
import { TaskInputError } from '#shared/errors.ts';
import type { ContainerExit } from './containers.ts';
import { EcsApiError } from './errors.ts';
import { type LocalEcs, runnerImage } from './local-ecs.ts';

/** The runner's task-definition families, as the rendered state machine names them (no revision). */
export const runnerFamily = 'stepline-runner';
export const publisherFamily = 'stepline-publisher';
export const runnerContainer = 'runner';

/**
 * Registers `stepline-runner` and `stepline-publisher` (revision 1, container `runner`, image
 * `stepline/runner:local`, i.e. the bundled runner) with this runtime's task environment. The
 * publisher also gets the registry's environment and, as on AWS, more CPU and memory.
 */
export function registerRunnerTaskDefinitions(
  ecs: LocalEcs,
  options: { taskEnv: Record<string, string>; publisherEnv?: Record<string, string> },
): void {
  const environment = (env: Record<string, string>) =>
    Object.entries(env).map(([name, value]) => ({ name, value }));
  const common = {
    requiresCompatibilities: ['FARGATE'],
    networkMode: 'awsvpc',
    runtimePlatform: {
      cpuArchitecture: process.arch === 'arm64' ? 'ARM64' : 'X86_64',
      operatingSystemFamily: 'LINUX',
    },
  };
  ecs.registerBuiltIn({
    family: runnerFamily,
    cpu: '1024',
    memory: '2048',
    ...common,
    containerDefinitions: [
      {
        name: runnerContainer,
        image: runnerImage,
        essential: true,
        environment: environment(options.taskEnv),
      },
    ],
  });
  ecs.registerBuiltIn({
    family: publisherFamily,
    cpu: '2048',
    memory: '4096',
    ...common,
    containerDefinitions: [
      {
        name: runnerContainer,
        image: runnerImage,
        essential: true,
        environment: environment({ ...options.taskEnv, ...options.publisherEnv }),
      },
    ],
  });
}

/** `{Cluster, Overrides: {ContainerOverrides: [{Name, …}]}}` → `{cluster, overrides: {containerOverrides: [{name, …}]}}`. */
export function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key.charAt(0).toLowerCase() + key.slice(1),
      camelCaseKeys(inner),
    ]),
  );
}

/**
 * The engine's `ecs:runTask.waitForTaskToken` handler: the state's parameters (PascalCase, as the
 * Step Functions integration takes them) become a RunTask request to the local ECS, which honours
 * its `TaskDefinition` (the container's environment, then the container overrides). The task's
 * output goes to `<taskLogDir>/<execution>/<state>.log`; `onExit` hears when its process ends.
 */
export function ecsRunTaskHandler(
  ecs: LocalEcs,
  options: { taskLogDir: string; onExit?: (exit: ContainerExit, ctx: TaskContext, logPath: string) => void },
): TaskHandler {
  return async (input, ctx) => {
    const logPath = `${options.taskLogDir}/${ctx.executionName}/${ctx.stateName}.log`;
    try {
      return await ecs.runTask(camelCaseKeys(input), {
        executionName: ctx.executionName,
        stateName: ctx.stateName,
        signal: ctx.signal,
        logPath,
        onExit: (exit) => options.onExit?.(exit, ctx, logPath),
      });
    } catch (error) {
      // ECS refusing the request is the task's failure, as `ECS.<Exception>` would be on AWS.
      if (error instanceof EcsApiError)
        throw new TaskInputError(`ecs:runTask: ${error.name}: ${error.message}`);
      throw error;
    }
  };
}
