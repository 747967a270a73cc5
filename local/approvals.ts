import { resolve } from 'node:path';
import { ECSClient } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { createApprovalApiHandler } from '#functions/approval-api/create-handler.ts';
import { gitCommitLister } from '#functions/request-approval/commits.ts';
import { handleApprovalTask } from '#functions/request-approval/request-approval.ts';
import type { LocalCredentials } from '#local/credentials.ts';
import { localRegion } from '#local/s3.ts';
import type { LocalRoute } from '#local/webhook-server.ts';
import { localApprovalSigningKey } from '#shared/approval/local-signing-key.ts';
import type { DeploymentConfig } from '#shared/deployment-config.ts';
import { createLogger } from '#shared/logger.ts';

export { approvalKeyFile, localApprovalSigningKey } from '#shared/approval/local-signing-key.ts';

/** Endpoints of the local stand-ins; read when first needed, since some start after the Lambdas are bound. */
export interface LocalApprovalEndpoints {
  ses(): string;
  sfn(): string;
  /** The local ECS endpoint, when the runtime has one; without it production's commit is "unknown". */
  ecs?(): string | undefined;
  /** Where links point: `--public-url`, else the local server's own URL. */
  approvalBaseUrl(): string;
}

export interface LocalApprovalOptions {
  dataDir: string;
  config: DeploymentConfig;
  s3: S3Client;
  bucket: string;
  endpoints: LocalApprovalEndpoints;
  /** The data directory's credentials: the stand-ins answer only requests signed with them. */
  credentials: LocalCredentials;
}

const clientOptions = (endpoint: string, credentials: LocalCredentials) => ({
  endpoint,
  region: localRegion,
  credentials,
});

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}

/**
 * The request-approval function bound to the local stand-ins: approval records in local S3, emails
 * through the local SES (into the outbox), commits from `git log`, production's commit from the
 * local ECS when there is one. Same code as on AWS.
 */
export function localRequestApproval(options: LocalApprovalOptions): (event: unknown) => Promise<unknown> {
  const ses = lazy(() => new SESv2Client(clientOptions(options.endpoints.ses(), options.credentials)));
  const ecs = lazy(() => {
    const endpoint = options.endpoints.ecs?.();
    return endpoint ? new ECSClient(clientOptions(endpoint, options.credentials)) : undefined;
  });
  const logger = createLogger('stepline-request-approval');
  const commits = gitCommitLister();
  return (event) =>
    handleApprovalTask(event, {
      s3: options.s3,
      bucket: options.bucket,
      ses: ses(),
      ecs: ecs(),
      config: options.config,
      commits,
      signingKey: async () => localApprovalSigningKey(options.dataDir),
      approvalBaseUrl: options.endpoints.approvalBaseUrl,
      executionLink: (run) => ({
        command: `npx stepline executions show ${run.name} --data ${resolve(options.dataDir)}`,
      }),
      logger,
    });
}

/**
 * `GET /approvals/{id}` and `POST /approvals/{id}` with the approval API's middy handler in this
 * process, for tests that bring their own stand-ins. The local runtime runs the function's bundle
 * in a worker instead (`approvalApiRoutes(lambdas.approvalApi)`).
 */
export function localApprovalRoutes(
  options: Pick<LocalApprovalOptions, 'dataDir' | 's3' | 'bucket' | 'credentials'> & {
    sfnEndpoint(): string;
  },
): LocalRoute[] {
  const sfn = lazy(() => new SFNClient(clientOptions(options.sfnEndpoint(), options.credentials)));
  const handler = createApprovalApiHandler({
    s3: options.s3,
    bucket: options.bucket,
    sfn: { send: ((command: never) => sfn().send(command)) as SFNClient['send'] },
    signingKey: async () => localApprovalSigningKey(options.dataDir),
    logger: createLogger('stepline-approval-api'),
  });
  return approvalApiRoutes((event, context) => handler(event, context));
}

/** The HTTP API's two approval routes, both to the approval API function (`handle`). */
export function approvalApiRoutes(handle: LocalRoute['handle']): LocalRoute[] {
  return [
    { method: 'GET', pattern: '/approvals/{id}', functionName: 'stepline-approval-api', handle },
    { method: 'POST', pattern: '/approvals/{id}', functionName: 'stepline-approval-api', handle },
  ];
}
