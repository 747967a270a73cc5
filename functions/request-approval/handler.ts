import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import * as z from 'zod';
import { consoleExecutionUrl } from '#functions/report-status/report-status.ts';
import { localApprovalSigningKey } from '#shared/approval/local-signing-key.ts';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { awsSecretResolver } from '#shared/secrets.ts';
import { gitCommitLister, providerCommitLister } from './commits.ts';
import { createRequestApprovalHandler } from './create-handler.ts';
import { localExecutionLink } from './request-approval.ts';

export { createRequestApprovalHandler } from './create-handler.ts';

export const RequestApprovalEnv = z.object({
  /** Bucket for `approvals/{id}.json`, where the task token is kept (the artifact bucket). */
  ARTIFACT_BUCKET: z.string().min(1),
  /** The deployment configuration as JSON: approvers, `emailFrom`, `notificationEmails`, production targets. */
  STEPLINE_CONFIG: DeploymentConfigJson,
  /** Base URL of the approval API (the HTTP API's URL); links are `<base>/approvals/{id}?…`. */
  APPROVAL_BASE_URL: z.url({ protocol: /^https?$/, error: 'expected the http(s) URL of the approval API' }),
  /** Name or ARN of the Secrets Manager secret holding the key approval links are signed with. */
  APPROVAL_SIGNING_KEY_SECRET: z.string().min(1),
  /** Region of the state machine, for the console link in the email. */
  AWS_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region like eu-west-1'),
  /**
   * Set by the local runtime only (never by the stack): its data directory. Commits then come from
   * `git log` of the pushed repository, the signing key from `<dir>/approval-signing-key`, and the
   * email's execution link is the local console's page (STEPLINE_CONSOLE_URL), else the
   * `stepline executions show` command.
   */
  STEPLINE_DATA_DIR: z.string().min(1).optional(),
  /** Set by the local runtime when it serves the web console: its URL (never its token). */
  STEPLINE_CONSOLE_URL: z
    .url({ protocol: /^https?$/, error: 'expected the http(s) URL of the local console' })
    .optional(),
});

const env = parseEnv(RequestApprovalEnv, process.env, 'request-approval');
const logger = createLogger('stepline-request-approval');
const resolveSecret = awsSecretResolver();

const dataDir = env.STEPLINE_DATA_DIR;

/** RequestApproval (`lambda:invoke.waitForTaskToken` payload) and NotifyApprovalOutcome. */
export const handler = createRequestApprovalHandler({
  s3: new S3Client({}),
  bucket: env.ARTIFACT_BUCKET,
  ses: new SESv2Client({}),
  ecs: new ECSClient({}),
  config: env.STEPLINE_CONFIG,
  commits: dataDir ? gitCommitLister() : providerCommitLister({ config: env.STEPLINE_CONFIG, resolveSecret }),
  signingKey: async () =>
    dataDir
      ? localApprovalSigningKey(dataDir)
      : resolveSecret({ secretName: env.APPROVAL_SIGNING_KEY_SECRET }),
  approvalBaseUrl: () => env.APPROVAL_BASE_URL,
  executionLink: (run) =>
    dataDir
      ? localExecutionLink(run, { dataDir, consoleUrl: env.STEPLINE_CONSOLE_URL })
      : { url: consoleExecutionUrl(env.AWS_REGION, run.executionArn) },
  logger,
});
