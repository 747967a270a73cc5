import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import type { EngineLogger } from '#local/sfn/engine.ts';
import { LambdaTooManyRequestsError } from '#shared/errors.ts';
import { LambdaInvocationError, type LocalLambdaFunction } from './local-function.ts';

/**
 * An HTTP API route's Lambda integration (payload v2) in front of a local function: the event goes
 * to the function's worker, its result back to the client. A failed invocation (an error the
 * handler did not turn into a response, a timeout, a failed init, the concurrency limit) is answered as API Gateway
 * answers it: 500 `{"message":"Internal Server Error"}`, the error itself only in the log.
 */
export function apiGatewayIntegration(
  fn: LocalLambdaFunction,
  logger?: Pick<EngineLogger, 'error'>,
): (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2> {
  return async (event) => {
    try {
      return (await fn.invoke(event)) as APIGatewayProxyResultV2;
    } catch (error) {
      if (!(error instanceof LambdaInvocationError || error instanceof LambdaTooManyRequestsError))
        throw error;
      logger?.error(`${fn.functionName} failed`, { errorType: error.name });
      return {
        statusCode: 500,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ message: 'Internal Server Error' }),
      };
    }
  };
}
