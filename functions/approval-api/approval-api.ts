import type { Logger } from '@aws-lambda-powertools/logger';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { ApprovalId, Expires, verifyApproval } from '#shared/approval/link.ts';
import {
  type ApprovalDecision,
  type ApprovalRecord,
  readApprovalRecord,
  writeApprovalRecord,
} from '#shared/approval/record.ts';
import { ApprovalRejectedError } from '#shared/errors.ts';
import { formatPath } from '#shared/format-zod-error.ts';
import { fitJsonString } from '#shared/payload-budget.ts';
import {
  badRequestPage,
  decidedPage,
  decisionPage,
  forbiddenPage,
  type GoneReason,
  gonePage,
  messagePage,
  type Page,
} from './pages.ts';

/** One request to `/approvals/{id}`, as the handler reads it from the API Gateway event. */
export interface ApprovalRequest {
  method: string;
  /** The `{id}` path parameter, unchecked. */
  id: string;
  /** The request path as the browser sees it: where the form posts back to. */
  path: string;
  /** The query string without `?`. */
  query: string;
  contentType: string | undefined;
  body: string;
}

export interface ApprovalApiDeps {
  s3: Pick<S3Client, 'send'>;
  /** Bucket with `approvals/{id}.json`. */
  bucket: string;
  sfn: Pick<SFNClient, 'send'>;
  /** The HMAC key links were signed with. Never logged. */
  signingKey(): Promise<string>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Longest comment kept. It travels in the execution state (`$.approval`, and a rejection's cause),
 * so it is also cut to {@link MAX_COMMENT_JSON_BYTES} as JSON: 2000 CJK characters take 6 KB.
 */
export const MAX_COMMENT_CHARS = 2000;
export const MAX_COMMENT_JSON_BYTES = 6 * 1024;
const MAX_FORM_BYTES = 16 * 1024;

/** An approver address as links carry it: not empty, one line, no longer than an address can be. */
const Approver = z
  .string()
  .min(1, 'missing')
  .max(320, 'longer than an email address can be')
  .regex(/^[^\r\n]+$/, 'must be one line');

const LinkFields = z.object({
  approver: Approver,
  expires: Expires,
  sig: z.string().min(1, 'missing'),
});

/** The approval form as the page posts it (`application/x-www-form-urlencoded`). */
export const DecisionForm = LinkFields.extend({
  decision: z.enum(['approve', 'reject'], { error: 'expected "approve" or "reject"' }),
  comment: z
    .string()
    .max(MAX_COMMENT_CHARS, `at most ${MAX_COMMENT_CHARS} characters`)
    .default('')
    .transform((comment) => fitJsonString(comment.replace(/\r\n?/g, '\n').trim(), MAX_COMMENT_JSON_BYTES)),
});

/** Errors of SendTask* that mean the task is not waiting for this token any more. */
const closedTaskErrors = new Set(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']);

function firstValues(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of params) out[key] ??= value;
  return out;
}

function badField(error: z.ZodError, sent: Record<string, string>): Page {
  const issue = error.issues[0]!;
  const field = formatPath(issue.path);
  // A field that was not sent at all is "missing", whatever the schema would say about its value.
  const message = sent[String(issue.path[0])] === undefined ? 'missing' : issue.message;
  return badRequestPage(field, message);
}

/**
 * The approval API. `GET /approvals/{id}?approver&expires&sig` shows what ships and the form;
 * `POST /approvals/{id}` with the form decides, once. Every answer is a small HTML page.
 *
 * Checks, in order, on both: the link's fields are well-formed (400, naming the field); the
 * signature covers exactly this id, approver and expiry (403); the link has not expired (410);
 * the request exists, names this approver, and is still pending (410 when decided); the execution
 * is still RUNNING (410 with its status). A POST then sends the decision with the task token; the
 * token works once, so of two simultaneous clicks exactly one gets through and the other is told
 * the request has closed (410). GET never changes anything.
 */
export async function handleApproval(req: ApprovalRequest, deps: ApprovalApiDeps): Promise<Page> {
  const method = req.method.toUpperCase();
  if (method !== 'GET' && method !== 'POST')
    return messagePage(
      405,
      'Method not allowed',
      `${method} is not allowed here; open the link from the email.`,
    );
  const id = ApprovalId.safeParse(req.id);
  if (!id.success) return badRequestPage('id', id.error.issues[0]!.message);

  if (method === 'GET') {
    const sent = firstValues(new URLSearchParams(req.query));
    const fields = LinkFields.safeParse(sent);
    if (!fields.success) return badField(fields.error, sent);
    const checked = await check(id.data, fields.data, deps);
    if ('page' in checked) return checked.page;
    return decisionPage(checked.record.summary, fields.data, req.path);
  }

  if (!/^application\/x-www-form-urlencoded\b/i.test(req.contentType ?? ''))
    return messagePage(
      415,
      'Unsupported form',
      'Decisions are posted by the approval page as application/x-www-form-urlencoded.',
    );
  if (Buffer.byteLength(req.body) > MAX_FORM_BYTES)
    return messagePage(413, 'Form too large', `The form is over ${MAX_FORM_BYTES} bytes.`);
  const sent = firstValues(new URLSearchParams(req.body));
  const form = DecisionForm.safeParse(sent);
  if (!form.success) return badField(form.error, sent);
  const checked = await check(id.data, form.data, deps);
  if ('page' in checked) return checked.page;
  return decide(checked.record, form.data, deps);
}

type Checked = { record: ApprovalRecord } | { page: Page };

async function check(
  id: string,
  fields: z.infer<typeof LinkFields>,
  deps: ApprovalApiDeps,
): Promise<Checked> {
  const key = await deps.signingKey();
  if (!verifyApproval(key, { id, approver: fields.approver, expires: fields.expires }, fields.sig)) {
    deps.logger.warn('approval link with a bad signature', { approvalId: id });
    return { page: forbiddenPage() };
  }
  const now = (deps.now ?? Date.now)();
  if (now >= fields.expires * 1000)
    return { page: gonePage({ kind: 'expired', expiresAt: new Date(fields.expires * 1000).toISOString() }) };
  const record = await readApprovalRecord(deps.s3, deps.bucket, id);
  if (!record) return { page: gonePage({ kind: 'missing' }) };
  const approver = fields.approver.toLowerCase();
  if (!record.approvers.some((a) => a.toLowerCase() === approver)) {
    deps.logger.warn('signed approval link for someone who is not an approver of it', { approvalId: id });
    return { page: forbiddenPage() };
  }
  if (record.decision) return { page: gonePage({ kind: 'decided', decision: record.decision }) };
  const gone = await executionGone(record, deps);
  if (gone) return { page: gonePage(gone) };
  return { record };
}

/** Why the execution no longer waits, or `undefined` while it runs. */
async function executionGone(record: ApprovalRecord, deps: ApprovalApiDeps): Promise<GoneReason | undefined> {
  try {
    const execution = await deps.sfn.send(
      new DescribeExecutionCommand({ executionArn: record.executionArn }),
    );
    if (execution.status === 'RUNNING') return undefined;
    return {
      kind: 'not-waiting',
      execution: record.executionName,
      status: execution.status ?? 'UNKNOWN',
      ...(execution.error ? { error: execution.error } : {}),
      ...(execution.cause ? { cause: execution.cause.split('\n', 1)[0]!.slice(0, 300) } : {}),
    };
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist')
      return { kind: 'not-waiting', execution: record.executionName, status: 'DELETED' };
    throw error;
  }
}

async function decide(
  record: ApprovalRecord,
  form: z.infer<typeof DecisionForm>,
  deps: ApprovalApiDeps,
): Promise<Page> {
  const decidedAt = new Date((deps.now ?? Date.now)()).toISOString();
  // The approver as configured, whatever case the link used.
  const approver =
    record.approvers.find((a) => a.toLowerCase() === form.approver.toLowerCase()) ?? form.approver;
  const decision: ApprovalDecision = { decision: form.decision, approver, comment: form.comment, decidedAt };
  try {
    if (decision.decision === 'approve')
      await deps.sfn.send(
        new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify(decision) }),
      );
    else
      await deps.sfn.send(
        new SendTaskFailureCommand({
          taskToken: record.taskToken,
          error: new ApprovalRejectedError().name,
          cause: `Rejected by ${approver}${decision.comment ? `: ${decision.comment}` : ''}`,
        }),
      );
  } catch (error) {
    if (!closedTaskErrors.has((error as Error).name)) throw error;
    deps.logger.info('decision for an approval request that has closed', {
      approvalId: record.id,
      error: (error as Error).name,
    });
    // Another click may have won a moment ago: say what it decided if it is recorded already.
    const latest = await readApprovalRecord(deps.s3, deps.bucket, record.id).catch(() => undefined);
    if (latest?.decision) return gonePage({ kind: 'decided', decision: latest.decision });
    const gone = await executionGone(record, deps).catch(() => undefined);
    return gonePage(gone ?? { kind: 'closed', execution: record.executionName });
  }
  deps.logger.info('approval decided', {
    approvalId: record.id,
    executionArn: record.executionArn,
    decision: decision.decision,
    approver,
  });
  try {
    await writeApprovalRecord(deps.s3, deps.bucket, {
      ...record,
      status: decision.decision === 'approve' ? 'approved' : 'rejected',
      decision,
    });
  } catch (error) {
    // The execution has the decision (its history is the record of truth); the token is spent.
    deps.logger.error('the decision went to the execution but could not be recorded', {
      approvalId: record.id,
      error: (error as Error).message,
    });
  }
  return decidedPage(record.summary, decision);
}
