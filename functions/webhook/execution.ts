import { createHash } from 'node:crypto';
import { payloadBudget } from '#shared/payload-budget.ts';
import type { PushCommit, PushEvent } from '#shared/push-event.ts';

const NAME_LIMIT = 80;

/**
 * The execution name for a delivery: `<provider>-<delivery id>` reduced to `[A-Za-z0-9_-]`, at most
 * 80 characters, as Step Functions requires. A redelivery carries the same delivery id, so it maps
 * to the same name and Step Functions refuses to start a second run. Whenever reducing changed the
 * id (a character dropped, or the name cut to 80), the name ends in a hash of the exact id, so two
 * different ids never share a name (`"` and `..` both reduce to nothing; `a.b` and `ab` to `ab`).
 */
export function executionName(provider: string, deliveryId: string): string {
  const readable = `${provider}-${deliveryId}`.replace(/[^A-Za-z0-9_-]/g, '');
  if (readable === `${provider}-${deliveryId}` && readable.length <= NAME_LIMIT) return readable;
  const hash = createHash('sha256').update(`${provider}\n${deliveryId}`).digest('hex').slice(0, 16);
  return `${readable.slice(0, NAME_LIMIT - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/**
 * The ARN Step Functions gives an execution of `stateMachineArn` named `name`
 * (`arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>`).
 */
export function executionArn(stateMachineArn: string, name: string): string {
  const marker = ':stateMachine:';
  const at = stateMachineArn.indexOf(marker);
  if (at < 0) throw new Error(`"${stateMachineArn}" is not a state machine ARN`);
  return `${stateMachineArn.slice(0, at)}:execution:${stateMachineArn.slice(at + marker.length)}:${name}`;
}

/** Commits kept in the execution input; the newest are kept. */
export const MAX_COMMITS = 50;
const MAX_FILES_PER_LIST = 100;
const MAX_MESSAGE_CHARS = 4096;
/**
 * The push's share of the execution state: Step Functions caps every state at 256 KiB, and the
 * later steps add their results and causes to the push (#shared/payload-budget.ts).
 */
export const MAX_INPUT_BYTES = payloadBudget.push;

function trimCommit(commit: PushCommit, files: number): PushCommit {
  return {
    ...commit,
    message:
      commit.message.length > MAX_MESSAGE_CHARS ? commit.message.slice(0, MAX_MESSAGE_CHARS) : commit.message,
    added: commit.added.slice(0, files),
    modified: commit.modified.slice(0, files),
    removed: commit.removed.slice(0, files),
  };
}

/** The execution input: the push and its JSON text, which is what Step Functions measures. */
export interface ExecutionInput {
  push: PushEvent;
  json: string;
}

function input(push: PushEvent): ExecutionInput {
  return { push, json: JSON.stringify(push) };
}

/** Whether JSON text fits the input limit; a UTF-16 unit is at most 3 UTF-8 bytes, so short text skips encoding. */
function fits(json: string): boolean {
  return json.length * 3 <= MAX_INPUT_BYTES || Buffer.byteLength(json) <= MAX_INPUT_BYTES;
}

/**
 * The push as it goes into the execution: at most {@link MAX_COMMITS} commits, bounded file lists and
 * messages, and in any case under {@link MAX_INPUT_BYTES}: file lists go first, then the oldest
 * commits. Trigger rules have already seen every path.
 */
export function fitExecutionInput(push: PushEvent): ExecutionInput {
  let fitted = input({
    ...push,
    headCommit: trimCommit(push.headCommit, MAX_FILES_PER_LIST),
    commits: push.commits.slice(-MAX_COMMITS).map((c) => trimCommit(c, MAX_FILES_PER_LIST)),
  });
  if (fits(fitted.json)) return fitted;
  fitted = input({ ...fitted.push, commits: fitted.push.commits.map((c) => trimCommit(c, 0)) });
  if (fits(fitted.json)) return fitted;
  // Still too big: keep as many of the newest commits as fit.
  const { commits } = fitted.push;
  let kept = 0;
  let over = commits.length;
  while (over - kept > 1) {
    const mid = Math.floor((kept + over) / 2);
    if (fits(input({ ...fitted.push, commits: commits.slice(-mid) }).json)) kept = mid;
    else over = mid;
  }
  if (kept > 0) return input({ ...fitted.push, commits: commits.slice(-kept) });
  return input({ ...fitted.push, headCommit: trimCommit(fitted.push.headCommit, 0), commits: [] });
}
