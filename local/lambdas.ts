import { ECSClient } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import { checkDeployment } from '#functions/check-deployment/check-deployment.ts';
import { deploy } from '#functions/deploy/deploy.ts';
import { fetchSource } from '#functions/fetch-source/fetch-source.ts';
import { reportStatus } from '#functions/report-status/report-status.ts';
import { localStatusPublisher } from '#functions/report-status/status-publishers.ts';
import { type LocalApprovalEndpoints, localRequestApproval } from '#local/approvals.ts';
import { localCredentials, localRegion } from '#local/s3.ts';
import type { TaskHandler } from '#local/sfn/engine.ts';
import { localTaskRoleArnFormat } from '#local/substitutions.ts';
import type { DeploymentConfig } from '#shared/deployment-config.ts';
import { LambdaTooManyRequestsError } from '#shared/errors.ts';
import { createLogger } from '#shared/logger.ts';
import { gitArchiver } from '#shared/source-archive.ts';

/** Concurrent invocations one local function accepts, like a reserved concurrency on AWS. */
const reservedConcurrency = 10;

/**
 * Lambda stand-in: calls the function in-process, with input and output passed through JSON as
 * the Lambda service does, and with a concurrency limit past which it throws the same
 * `Lambda.TooManyRequestsException` the state machine retries on AWS.
 */
export function asLambda(name: string, fn: (event: unknown) => Promise<unknown>): TaskHandler {
  let inFlight = 0;
  return async (input) => {
    if (inFlight >= reservedConcurrency) {
      throw new LambdaTooManyRequestsError(
        `function stepline-${name} is at its concurrency limit (${reservedConcurrency})`,
      );
    }
    inFlight++;
    try {
      const result = await fn(JSON.parse(JSON.stringify(input ?? null)));
      return result === undefined ? null : JSON.parse(JSON.stringify(result));
    } finally {
      inFlight--;
    }
  };
}

export interface LocalLambdaDeps {
  dataDir: string;
  config: DeploymentConfig;
  s3: S3Client;
  bucket: string;
  /** Where the approval Lambda sends email, asks ECS, and points its links. */
  approvalEndpoints: LocalApprovalEndpoints;
  /** The local ECS endpoint Deploy and CheckDeployment talk to through the real ECS client. */
  ecsEndpoint?: string;
}

/** The pipeline's Lambdas bound to local dependencies: S3 stand-in, `git archive`, statuses on disk. */
export function localLambdas(deps: LocalLambdaDeps) {
  const publish = localStatusPublisher(deps.dataDir);
  const approval = localRequestApproval({
    dataDir: deps.dataDir,
    config: deps.config,
    s3: deps.s3,
    bucket: deps.bucket,
    // Production's commit comes from the same local ECS that Deploy talks to.
    endpoints: { ecs: () => deps.ecsEndpoint, ...deps.approvalEndpoints },
  });
  return {
    fetchSource: asLambda('fetch-source', (event) =>
      fetchSource(event, {
        s3: deps.s3,
        bucket: deps.bucket,
        taskRoleArnFormat: localTaskRoleArnFormat,
        config: deps.config,
        archiver: gitArchiver(),
        logger: createLogger('stepline-fetch-source'),
      }),
    ),
    reportStatus: asLambda('report-status', (event) =>
      reportStatus(event, { publish, executionUrl: (run) => `stepline executions show ${run.name}` }),
    ),
    deploy: asLambda('deploy', (event) =>
      deploy(event, { ecs: localEcs(deps), config: deps.config, logger: createLogger('stepline-deploy') }),
    ),
    checkDeployment: asLambda('check-deployment', (event) =>
      checkDeployment(event, {
        ecs: localEcs(deps),
        config: deps.config,
        fetch: globalThis.fetch,
        logger: createLogger('stepline-check-deployment'),
      }),
    ),
    // `lambda:invoke.waitForTaskToken` hands the function its `Payload`, as the Lambda integration does.
    requestApproval: asLambda('request-approval', (event) =>
      approval((event as { Payload?: unknown } | null)?.Payload),
    ),
    // NotifyApprovalOutcome invokes the same function by its ARN, with its input as the event.
    notifyApprovalOutcome: asLambda('request-approval', approval),
  };
}

const ecsClients = new Map<string, ECSClient>();

/** One ECS client per local endpoint, as a Lambda keeps one per module. */
function localEcs(deps: LocalLambdaDeps): ECSClient {
  if (!deps.ecsEndpoint)
    throw new Error('the local runtime started no ECS endpoint (ecsEndpoint), so nothing can deploy');
  let client = ecsClients.get(deps.ecsEndpoint);
  if (!client) {
    client = new ECSClient({
      endpoint: deps.ecsEndpoint,
      region: localRegion,
      credentials: localCredentials,
    });
    ecsClients.set(deps.ecsEndpoint, client);
  }
  return client;
}
