import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { formatZodError } from '../format-zod-error.ts';
import { Provider } from '../push-event.ts';
import { ApprovalId } from './link.ts';
import { ApprovalSummary } from './summary.ts';

/** What `SendTaskSuccess` hands RequestApproval (`$.approval`), and what the record keeps. */
export const ApprovalDecision = z.object({
  decision: z.enum(['approve', 'reject']),
  approver: z.string(),
  comment: z.string(),
  decidedAt: z.string(),
});
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/**
 * One approval request, kept server-side at `approvals/{id}.json` in the artifact bucket. It is
 * the only place the task token lives: links carry the id, never the token.
 */
export const ApprovalRecord = z.object({
  version: z.literal(1),
  id: ApprovalId,
  taskToken: z.string().min(1),
  executionArn: z.string().min(1),
  executionName: z.string().min(1),
  provider: Provider,
  repository: z.string().min(1),
  /** Who may decide, as configured when the request was made. */
  approvers: z.array(z.string()).min(1),
  createdAt: z.string(),
  /** When the links stop working (ISO) — the same moment RequestApproval's timeout fires. */
  expiresAt: z.string(),
  summary: ApprovalSummary,
  status: z.enum(['pending', 'approved', 'rejected']),
  decision: ApprovalDecision.optional(),
});
export type ApprovalRecord = z.infer<typeof ApprovalRecord>;

export const approvalKey = (id: string) => `approvals/${id}.json`;

/** The record of approval `id`, or `undefined` when there is none. */
export async function readApprovalRecord(
  s3: Pick<S3Client, 'send'>,
  bucket: string,
  id: string,
): Promise<ApprovalRecord | undefined> {
  let text: string;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: approvalKey(id) }));
    text = (await out.Body?.transformToString('utf8')) ?? '';
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey' || (error as Error).name === 'NotFound') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`s3://${bucket}/${approvalKey(id)} is not JSON: ${(error as Error).message}`);
  }
  const parsed = ApprovalRecord.safeParse(json);
  if (!parsed.success)
    throw new Error(
      `s3://${bucket}/${approvalKey(id)} is not an approval record: ${formatZodError(parsed.error).join('; ')}`,
    );
  return parsed.data;
}

export async function writeApprovalRecord(
  s3: Pick<S3Client, 'send'>,
  bucket: string,
  record: ApprovalRecord,
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: approvalKey(record.id),
      Body: JSON.stringify(record),
      ContentType: 'application/json',
    }),
  );
}
