import { randomBytes } from 'node:crypto';
import { InvalidTokenError, TaskDoesNotExistError, TaskTimedOutError } from './errors.ts';
import type { JsonValue, PendingTask } from './running-execution.ts';

/**
 * Task tokens: their shape, how a token replaces `$$.Task.Token` in a task's input, and which open
 * task each token belongs to. Tokens live in memory only, so a token dies with its process.
 */

/**
 * Task tokens look like AWS's: several hundred characters of standard base64, so a token put into a
 * URL, a form or a shell without encoding breaks here as it would on AWS. Each starts with `+/+/`
 * (three fixed bytes) and ends with `=`, so every token has all three characters that need encoding.
 */
const tokenHeader = Buffer.from([0xfb, 0xff, 0xbf]);
const tokenBytes = 512;
const tokenPattern = /^\+\/\+\/[A-Za-z0-9+/]{679}=$/;

/** A fresh task token: {@link tokenBytes} bytes (a fixed header, then random) in standard base64. */
export function newTaskToken(): string {
  return Buffer.concat([tokenHeader, randomBytes(tokenBytes - tokenHeader.length)]).toString('base64');
}

/**
 * What the library is given as `$$.Task.Token` for an execution; {@link withTaskToken} swaps it for
 * the attempt's real token.
 */
export function newTokenPlaceholder(): string {
  return `stepline-task-token-placeholder-${randomBytes(12).toString('hex')}`;
}

/** `value` with every occurrence of `placeholder` in its strings replaced by `token`. */
export function withTaskToken(value: JsonValue, placeholder: string, token: string): JsonValue {
  if (typeof value === 'string') return value.replaceAll(placeholder, token);
  if (Array.isArray(value)) return value.map((item) => withTaskToken(item, placeholder, token));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, withTaskToken(item, placeholder, token)]),
    );
  }
  return value;
}

/** The tokens an engine issued: open ones with their task, and spent ones (their task closed). */
export class TaskTokens {
  private readonly open = new Map<string, PendingTask>();
  private readonly spent = new Set<string>();

  /** Registers `task`'s token as open. */
  issue(token: string, task: PendingTask): void {
    this.open.set(token, task);
  }

  /** The token's task is closed: the token works no more (`TaskTimedOut` from then on). */
  retire(token: string): void {
    this.open.delete(token);
    this.spent.add(token);
  }

  /** The open task of `taskToken`, or the error AWS answers: `InvalidToken`, `TaskTimedOut`, `TaskDoesNotExist`. */
  taskOf(taskToken: string): PendingTask {
    if (!tokenPattern.test(taskToken))
      throw new InvalidTokenError(`Invalid Token: '${taskToken.slice(0, 64)}'`);
    const task = this.open.get(taskToken);
    if (task) return task;
    if (this.spent.has(taskToken))
      throw new TaskTimedOutError('Task Timed Out: the task of this token has already closed');
    throw new TaskDoesNotExistError('Task Does Not Exist: this local runtime did not issue this token');
  }
}
