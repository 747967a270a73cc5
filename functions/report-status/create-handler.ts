import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type DeploymentConfig, findRepositoryConfig, type SecretRef } from '#shared/deployment-config.ts';
import { StatusReportError } from '#shared/errors.ts';
import type { Fetch } from '#shared/provider-api.ts';
import {
  type ReportStatusDeps,
  type ReportStatusResult,
  reportStatus,
  type StatusPublisher,
} from './report-status.ts';
import { providerStatusPublisher } from './status-publishers.ts';

/**
 * Publishes through the provider of the configured repository a status belongs to, with its
 * `providerToken` and `apiUrl`. A repository without a `providerToken` is skipped with a logged
 * reason: statuses are a courtesy, not a reason to fail a run.
 */
export function deploymentStatusPublisher(
  config: DeploymentConfig,
  resolveSecret: (ref: SecretRef) => Promise<string>,
  logger: Pick<Logger, 'info'>,
  fetch?: Fetch,
): StatusPublisher {
  return async (status, run) => {
    const entry = findRepositoryConfig(config, status.provider, status.repository);
    if (!entry?.providerToken) {
      logger.info('commit status not published', {
        reason: entry
          ? `repository ${status.repository} has no providerToken in the deployment configuration`
          : `${status.provider} repository ${status.repository} is not in the deployment configuration`,
        state: status.state,
        sha: status.sha,
      });
      return;
    }
    let token: string;
    try {
      token = await resolveSecret(entry.providerToken);
    } catch (error) {
      throw new StatusReportError(
        `the provider token of ${status.repository} could not be read: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const publish = providerStatusPublisher({
      provider: status.provider,
      token,
      apiUrl: entry.apiUrl,
      ...(fetch ? { fetch } : {}),
    });
    await publish(status, run);
  };
}

/** The ReportStatus task Lambda around {@link reportStatus}. */
export function createReportStatusHandler(deps: ReportStatusDeps & { logger: Logger }) {
  return middy<unknown, ReportStatusResult>()
    .use(injectLambdaContext(deps.logger))
    .handler((event) => reportStatus(event, deps));
}
