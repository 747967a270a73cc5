import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { DeploymentState } from '#shared/deployment.ts';
import { type CheckDeploymentDeps, checkDeployment } from './check-deployment.ts';

/**
 * The CheckDeployment task Lambda around {@link checkDeployment}. The stack's handler binds it to an
 * ECS client for the account; the local runtime binds it to one pointed at the local ECS endpoint.
 */
export function createCheckDeploymentHandler(deps: Omit<CheckDeploymentDeps, 'logger'> & { logger: Logger }) {
  return middy<unknown, DeploymentState>()
    .use(injectLambdaContext(deps.logger))
    .handler((event) => checkDeployment(event, deps));
}
