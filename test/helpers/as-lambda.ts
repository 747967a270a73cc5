import type { TaskHandler } from '#local/sfn/engine.ts';
import { LambdaTooManyRequestsError } from '#shared/errors.ts';

/** Concurrent invocations an in-process function accepts, like a reserved concurrency on AWS. */
const reservedConcurrency = 10;

/**
 * An in-process function as a Task handler, for tests that bring their own function: input and
 * output pass through JSON as the Lambda service passes them, and past the concurrency limit it
 * throws the same `Lambda.TooManyRequestsException` the state machine retries on AWS. The local
 * runtime runs the real bundles instead (`localLambdas` in local/lambdas.ts).
 */
export function asLambda(name: string, fn: (event: unknown) => Promise<unknown>): TaskHandler {
  let inFlight = 0;
  return async (input) => {
    if (inFlight >= reservedConcurrency) {
      throw new LambdaTooManyRequestsError(
        `function stepline-${name} is at its concurrency limit (${reservedConcurrency})`,
      );
    }
    inFlight++;
    try {
      const result = await fn(JSON.parse(JSON.stringify(input ?? null)));
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } finally {
      inFlight--;
    }
  };
}
