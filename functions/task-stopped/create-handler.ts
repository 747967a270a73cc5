import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { reportStoppedTask, type TaskStoppedDeps, type TaskStoppedOutcome } from './task-stopped.ts';

/** The TaskStopped Lambda around {@link reportStoppedTask}, invoked by an EventBridge rule. */
export function createTaskStoppedHandler(deps: Omit<TaskStoppedDeps, 'logger'> & { logger: Logger }) {
  return (
    middy<unknown, TaskStoppedOutcome>()
      // logEvent stays off whatever the environment says: the event carries the runner's task token.
      .use(injectLambdaContext(deps.logger, { logEvent: false, resetKeys: true }))
      .handler((event) => reportStoppedTask(event, deps))
  );
}
