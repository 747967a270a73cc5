import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import {
  type ApprovalOutcomeResult,
  handleApprovalTask,
  type RequestApprovalDeps,
  type RequestApprovalResult,
} from './request-approval.ts';

/**
 * The request-approval Lambda around {@link handleApprovalTask}. `handler.ts` builds it from the
 * Lambda environment; the local runtime from its stand-ins. The event is not logged: it carries
 * the task token.
 */
export function createRequestApprovalHandler(deps: Omit<RequestApprovalDeps, 'logger'> & { logger: Logger }) {
  return middy<unknown, RequestApprovalResult | ApprovalOutcomeResult>()
    .use(injectLambdaContext(deps.logger, { logEvent: false, resetKeys: true }))
    .handler((event) => handleApprovalTask(event, deps));
}
