import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { awsSecretResolver } from '#shared/secrets.ts';
import { createApprovalApiHandler } from './create-handler.ts';

export { createApprovalApiHandler } from './create-handler.ts';

export const ApprovalApiEnv = z.object({
  /** Bucket with `approvals/{id}.json` (the artifact bucket). */
  ARTIFACT_BUCKET: z.string().min(1),
  /** Name or ARN of the Secrets Manager secret holding the key approval links are signed with. */
  APPROVAL_SIGNING_KEY_SECRET: z.string().min(1),
});

const env = parseEnv(ApprovalApiEnv, process.env, 'approval-api');
const logger = createLogger('stepline-approval-api');
const resolveSecret = awsSecretResolver();

/** `GET /approvals/{id}` (the page) and `POST /approvals/{id}` (the decision) on API Gateway. */
export const handler = createApprovalApiHandler({
  s3: new S3Client({}),
  bucket: env.ARTIFACT_BUCKET,
  sfn: new SFNClient({}),
  signingKey: () => resolveSecret({ secretName: env.APPROVAL_SIGNING_KEY_SECRET }),
  logger,
});
