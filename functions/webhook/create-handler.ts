import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpErrorHandler from '@middy/http-error-handler';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type RawRequest, type Reply, receivePush, type WebhookDeps } from './receive-push.ts';

/** The API Gateway HTTP API (payload v2) event as the request {@link receivePush} reads. */
export function toRawRequest(event: APIGatewayProxyEventV2): RawRequest {
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  const body =
    event.body === undefined || event.body === null
      ? Buffer.alloc(0)
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  return { provider: event.pathParameters?.provider ?? '', headers, body };
}

export function toResult(reply: Reply): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: reply.statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(reply.body),
  };
}

/**
 * The webhook Lambda handler around given dependencies. `handler.ts` builds it from the Lambda
 * environment; the local server builds it from the local runtime's, so both run the same code.
 */
export function createHandler(deps: WebhookDeps) {
  return (
    middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
      // logEvent stays off whatever the environment says: a GitLab delivery carries its secret in a header.
      .use(injectLambdaContext(deps.logger, { logEvent: false, resetKeys: true }))
      .use(
        httpErrorHandler({
          logger: (error: unknown) =>
            deps.logger.error('webhook request failed', {
              error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
            }),
        }),
      )
      .handler(async (event) => toResult(await receivePush(toRawRequest(event), deps)))
  );
}

export type WebhookHandler = ReturnType<typeof createHandler>;
