import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
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
 * environment, on AWS and locally alike (the local runtime runs the bundled `handler.ts` in a worker);
 * tests build it around their own.
 *
 * What the other functions get from middy (Powertools' `injectLambdaContext` and
 * `@middy/http-error-handler`), written out: the logger gets the invocation's context and drops the
 * keys a request appended when it ends; an error no reply covers is logged and answered 500 without
 * details. The webhook, the path of every push, does without middy because `@middy/core` imports
 * `node:stream/web` for streamed responses, which Node then loads at every cold start (about 1 ms,
 * a thirtieth of the floor in `npm run bench:cold-start`) though the webhook never streams.
 */
export function createHandler(deps: WebhookDeps) {
  const { logger } = deps;
  return async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    logger.refreshSampleRateCalculation();
    logger.addContext(context);
    // The event is never logged, whatever the environment says: a GitLab delivery carries its secret in a header.
    try {
      return toResult(await receivePush(toRawRequest(event), deps));
    } catch (error) {
      logger.error('webhook request failed', {
        error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
      });
      return toResult({ statusCode: 500, body: { message: 'internal error' } });
    } finally {
      logger.resetKeys();
    }
  };
}

export type WebhookHandler = ReturnType<typeof createHandler>;
