import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { localApprovalSigningKey } from '#shared/approval/local-signing-key.ts';
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
  /** Set by the local runtime only (never by the stack): the signing key is then `<dir>/approval-signing-key`. */
  STEPLINE_DATA_DIR: z.string().min(1).optional(),
});

const env = parseEnv(ApprovalApiEnv, process.env, 'approval-api');
const logger = createLogger('stepline-approval-api');
const resolveSecret = awsSecretResolver();

/** `GET /approvals/{id}` (the page) and `POST /approvals/{id}` (the decision) on API Gateway. */
export const handler = createApprovalApiHandler({
  s3: new S3Client({}),
  bucket: env.ARTIFACT_BUCKET,
  sfn: new SFNClient({}),
  signingKey: async () =>
    env.STEPLINE_DATA_DIR
      ? localApprovalSigningKey(env.STEPLINE_DATA_DIR)
      : resolveSecret({ secretName: env.APPROVAL_SIGNING_KEY_SECRET }),
  logger,
});
