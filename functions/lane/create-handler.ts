import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type LaneDeps, lane } from './lane.ts';

/**
 * An EventBridge "Step Functions Execution Status Change" event of an execution that ended
 * (FAILED, TIMED_OUT, ABORTED, or SUCCEEDED) becomes a `release` of its lane: an execution that never
 * reached a `LeaveLane` state (stopped, timed out, a Lambda that failed for good) leaves it all the same.
 */
export function toLaneInput(event: unknown): unknown {
  if (event && typeof event === 'object' && (event as { source?: unknown }).source === 'aws.states') {
    const detail = (event as { detail?: { executionArn?: unknown } }).detail;
    return { action: 'release', executionArn: detail?.executionArn };
  }
  return event;
}

/** The lane Lambda around {@link lane}: the state machine's lane states and the execution-end rule. */
export function createLaneHandler(deps: Omit<LaneDeps, 'logger'> & { logger: Logger }) {
  return middy<unknown, unknown>()
    .use(injectLambdaContext(deps.logger))
    .handler((event) => lane(toLaneInput(event), deps));
}
