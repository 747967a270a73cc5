import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { DeploymentState } from '#shared/deployment.ts';
import { type DeployDeps, deploy } from './deploy.ts';

/**
 * The Deploy task Lambda around {@link deploy}. The stack's handler binds it to an ECS client for the
 * account; the local runtime binds it to one pointed at the local ECS endpoint.
 */
export function createDeployHandler(deps: Omit<DeployDeps, 'logger'> & { logger: Logger }) {
  return middy<unknown, DeploymentState>()
    .use(injectLambdaContext(deps.logger))
    .handler((event) => deploy(event, deps));
}
