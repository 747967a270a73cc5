import {
  ExecutionDoesNotExistError,
  InvalidArnError,
  InvalidExecutionInputError,
  InvalidNameError,
  InvalidOutputError,
  InvalidTokenError,
  ValidationError,
} from './errors.ts';
import type { JsonValue } from './running-execution.ts';

/**
 * Validation of API requests, with AWS's rules and error codes: execution names, ARNs, inputs and
 * outputs as JSON text, `SendTaskFailure`'s fields and paging.
 */

const defaultPageSize = 100;
const maxPageSize = 1000;

/**
 * AWS's execution name rule: 1–80 characters; no whitespace, brackets, wildcards, control
 * characters or any of `" # % \ ^ | ~ ` $ & , ; : /`.
 */
export function validateExecutionName(name: string): void {
  if (name.length < 1 || name.length > 80)
    throw new InvalidNameError(`Invalid Name: '${name}' (must be 1 to 80 characters, got ${name.length})`);
  const bad = [...name].find((char) => {
    const code = char.codePointAt(0) ?? 0;
    return (
      /\s/.test(char) ||
      '<>{}[]?*"#%\\^|~`$&,;:/'.includes(char) ||
      code <= 0x1f ||
      (code >= 0x7f && code <= 0x9f)
    );
  });
  if (bad)
    throw new InvalidNameError(`Invalid Name: '${name}' (character ${JSON.stringify(bad)} is not allowed)`);
}

/**
 * The name of the execution `executionArn` designates, given the ARN prefix of this state machine's
 * executions: `InvalidArn` when it is no execution ARN, `ExecutionDoesNotExist` for another machine's.
 */
export function executionNameFromArn(executionArn: string, executionArnPrefix: string): string {
  if (!/^arn:[^:]+:states:[^:]*:[^:]*:execution:[^:]+:[^:]+$/.test(executionArn))
    throw new InvalidArnError(`Invalid Arn: '${executionArn}'`);
  if (!executionArn.startsWith(executionArnPrefix))
    throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
  return executionArn.slice(executionArnPrefix.length);
}

/** `StartExecution`'s input: JSON text, else `InvalidExecutionInput`. */
export function parseExecutionInput(inputText: string): JsonValue {
  try {
    return JSON.parse(inputText) as JsonValue;
  } catch (error) {
    throw new InvalidExecutionInputError(
      `Invalid State Machine Execution Input: '${(error as Error).message}'`,
    );
  }
}

/** `SendTaskSuccess`'s output: JSON text, else `InvalidOutput`. */
export function parseTaskOutput(output: string): JsonValue {
  try {
    return JSON.parse(output) as JsonValue;
  } catch (error) {
    throw new InvalidOutputError(`Invalid Output: '${(error as Error).message}'`);
  }
}

/** `SendTaskFailure`'s `error` (256 characters at most) and `cause` (32,768). */
export function validateTaskFailure(error: string | undefined, cause: string | undefined): void {
  if (error !== undefined && error.length > 256)
    throw new ValidationError(`error must be at most 256 characters, got ${error.length}`);
  if (cause !== undefined && cause.length > 32_768)
    throw new ValidationError(`cause must be at most 32768 characters, got ${cause.length}`);
}

/** One page of `items` for `maxResults` and a `nextToken` this function issued. */
export function paginate<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined) {
  const size = maxResults === undefined || maxResults === 0 ? defaultPageSize : maxResults;
  if (!Number.isInteger(size) || size < 0 || size > maxPageSize)
    throw new ValidationError(`maxResults must be an integer from 0 to ${maxPageSize}, got ${maxResults}`);
  let offset = 0;
  if (nextToken !== undefined) {
    const parsed = /^o(\d+)$/.exec(Buffer.from(nextToken, 'base64url').toString('utf8'));
    if (!parsed) throw new InvalidTokenError(`Invalid pagination token: '${nextToken}'`);
    offset = Number(parsed[1]);
  }
  const page = items.slice(offset, offset + size);
  const next =
    offset + size < items.length ? Buffer.from(`o${offset + size}`).toString('base64url') : undefined;
  return { page, ...(next === undefined ? {} : { nextToken: next }) };
}
