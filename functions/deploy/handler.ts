import { ECSClient } from '@aws-sdk/client-ecs';
import * as z from 'zod';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { createDeployHandler } from './create-handler.ts';

export { createDeployHandler } from './create-handler.ts';

export const DeployEnv = z.object({
  /** The deployment configuration as JSON: each repository's `deploy.staging` / `deploy.production` target. */
  STEPLINE_CONFIG: DeploymentConfigJson,
});

const env = parseEnv(DeployEnv, process.env, 'deploy');
const logger = createLogger('stepline-deploy');
const ecs = new ECSClient({});

/** DeployStaging/DeployProduction states: `{environment, run, push, image}` → `$.staging` / `$.production`. */
export const handler = createDeployHandler({ ecs, config: env.STEPLINE_CONFIG, logger });
