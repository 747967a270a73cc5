import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { createTaskStoppedHandler } from './create-handler.ts';

export { createTaskStoppedHandler } from './create-handler.ts';

export const TaskStoppedEnv = z.object({
  /** The runner's container name in the runner and publisher task definitions. */
  RUNNER_CONTAINER_NAME: z.string().min(1),
});

const env = parseEnv(TaskStoppedEnv, process.env, 'task-stopped');
const logger = createLogger('stepline-task-stopped');
const sfn = new SFNClient({});

/** EventBridge "ECS Task State Change" (STOPPED, runner cluster) → SendTaskFailure for a runner that did not report. */
export const handler = createTaskStoppedHandler({ sfn, containerName: env.RUNNER_CONTAINER_NAME, logger });
