import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type LaneDeps, lane } from './lane.ts';

/**
 * An EventBridge "Step Functions Execution Status Change" event of an execution that ended
 * (FAILED, TIMED_OUT, ABORTED, or SUCCEEDED) becomes a `release` of its lane: an execution that never
 * reached a `LeaveLane` state (stopped, timed out, a Lambda that failed for good) leaves it all the same.
 * The event's status and `time` go with it: a RUNNING one (a redrive) releases nothing, and an end
 * older than a redriven run's return to its lane leaves the lane as it is.
 */
export function toLaneInput(event: unknown): unknown {
  if (event && typeof event === 'object' && (event as { source?: unknown }).source === 'aws.states') {
    const { detail, time } = event as {
      detail?: { executionArn?: unknown; status?: unknown };
      time?: unknown;
    };
    return {
      action: 'release',
      executionArn: detail?.executionArn,
      ...(detail?.status === undefined ? {} : { status: detail.status }),
      ...(time === undefined ? {} : { endedAt: time }),
    };
  }
  return event;
}

/** The lane Lambda around {@link lane}: the state machine's lane states and the execution-end rule. */
export function createLaneHandler(deps: Omit<LaneDeps, 'logger'> & { logger: Logger }) {
  return middy<unknown, unknown>()
    .use(injectLambdaContext(deps.logger))
    .handler((event) => lane(toLaneInput(event), deps));
}
