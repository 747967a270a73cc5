import { maxPayloadBytes } from '#shared/payload-budget.ts';
import { ValidationError } from './errors.ts';
import { namedError } from './states-errors.ts';

/**
 * Step Functions' payload limit (256 KiB of UTF-8 for an execution's input, a state's input and
 * output, a task's parameters and result): over it, an API call is refused (`ValidationException`)
 * and an execution fails with `States.DataLimitExceeded`.
 */

export const overLimit = (text: string) => Buffer.byteLength(text) > maxPayloadBytes;

/** AWS's wording, with the figures. */
export function dataLimitMessage(stateName: string, what: string, bytes: number): string {
  return `The state/task '${stateName}' ${what} with a size exceeding the maximum number of bytes service limit (${bytes} bytes; the limit is ${maxPayloadBytes}).`;
}

/**
 * `States.DataLimitExceeded`, as AWS raises it for data over 256 KiB: a terminal error that neither
 * `Retry` nor `Catch` (not even `States.ALL`) matches, so the execution fails where it stands.
 */
export function dataLimitError(message: string): Error {
  return Object.assign(namedError('States.DataLimitExceeded', message), {
    isRetryable: false,
    isCatchable: false,
  });
}

/** An API call's `field` (`input`, `output`) over the limit: `ValidationException`. */
export function assertWithinPayloadLimit(field: string, text: string): void {
  if (overLimit(text))
    throw new ValidationError(
      `${field} must be at most ${maxPayloadBytes} bytes of UTF-8, got ${Buffer.byteLength(text)}`,
    );
}
