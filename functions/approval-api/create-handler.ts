import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type ApprovalApiDeps, type ApprovalRequest, handleApproval } from './approval-api.ts';
import { messagePage } from './pages.ts';

/** The API Gateway HTTP API (payload v2) event as the request {@link handleApproval} reads. */
export function toApprovalRequest(event: APIGatewayProxyEventV2): ApprovalRequest {
  let contentType: string | undefined;
  for (const [name, value] of Object.entries(event.headers ?? {}))
    if (name.toLowerCase() === 'content-type') contentType = value;
  const body =
    event.body === undefined || event.body === null
      ? ''
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return {
    method: event.requestContext?.http?.method ?? 'GET',
    id: event.pathParameters?.id ?? '',
    path: event.rawPath ?? event.requestContext?.http?.path ?? '/',
    query: event.rawQueryString ?? '',
    contentType,
    body,
  };
}

/**
 * The approval API Lambda handler (`GET|POST /approvals/{id}`) around given dependencies.
 * `handler.ts` builds it from the Lambda environment; the local server from the local runtime's.
 * Events are never logged: the query and the form carry the link's signature.
 */
export function createApprovalApiHandler(deps: Omit<ApprovalApiDeps, 'logger'> & { logger: Logger }) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(deps.logger, { logEvent: false, resetKeys: true }))
    .handler(async (event) => {
      try {
        return await handleApproval(toApprovalRequest(event), deps);
      } catch (error) {
        deps.logger.error('approval request failed', {
          error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
        });
        return messagePage(
          503,
          'Try again in a moment',
          'Stepline could not check this approval request just now. Nothing was decided; reload to try again.',
        );
      }
    });
}

export type ApprovalApiHandler = ReturnType<typeof createApprovalApiHandler>;
