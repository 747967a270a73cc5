import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type DeploymentConfig, findRepositoryConfig, type SecretRef } from '#shared/deployment-config.ts';
import { SourceFetchError } from '#shared/errors.ts';
import type { Fetch } from '#shared/provider-api.ts';
import { providerArchiver, type SourceArchiver } from '#shared/source-archive.ts';
import { type FetchSourceDeps, fetchSource, type SourceResult } from './fetch-source.ts';

/**
 * The provider archiver for whichever configured repository a push belongs to: its `apiUrl`, and
 * its `providerToken` (resolved per fetch; Secrets Manager values are cached by the resolver).
 */
export function deploymentArchiver(
  config: DeploymentConfig,
  resolveSecret: (ref: SecretRef) => Promise<string>,
  fetch?: Fetch,
): SourceArchiver {
  return {
    async fetch(push) {
      const entry = findRepositoryConfig(config, push.provider, push.repository.fullName);
      if (!entry) {
        throw new SourceFetchError(
          `${push.provider} repository "${push.repository.fullName}" is not in the deployment configuration`,
        );
      }
      let token: string | undefined;
      if (entry.providerToken) {
        try {
          token = await resolveSecret(entry.providerToken);
        } catch (error) {
          throw new SourceFetchError(
            `the provider token of ${push.repository.fullName} could not be read: ${(error as Error).message}`,
            { cause: error },
          );
        }
      }
      return providerArchiver({
        provider: push.provider,
        repository: push.repository.fullName,
        token,
        apiUrl: entry.apiUrl,
        ...(fetch ? { fetch } : {}),
      }).fetch(push);
    },
  };
}

/** The FetchSource task Lambda around {@link fetchSource}; the local runtime builds it with its own deps. */
export function createFetchSourceHandler(deps: Omit<FetchSourceDeps, 'logger'> & { logger: Logger }) {
  return middy<unknown, SourceResult>()
    .use(injectLambdaContext(deps.logger))
    .handler((event) => fetchSource(event, deps));
}
