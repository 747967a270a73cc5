import { ECSClient } from '@aws-sdk/client-ecs';
import * as z from 'zod';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { createCheckDeploymentHandler } from './create-handler.ts';

export { createCheckDeploymentHandler } from './create-handler.ts';

export const CheckDeploymentEnv = z.object({
  /** The deployment configuration as JSON: each target's smoke URL/path, percents and timeout. */
  STEPLINE_CONFIG: DeploymentConfigJson,
});

const env = parseEnv(CheckDeploymentEnv, process.env, 'check-deployment');
const logger = createLogger('stepline-check-deployment');
const ecs = new ECSClient({});

/** CheckStaging/CheckProduction states: `{environment, deployment}` → `$.staging` / `$.production`. */
export const handler = createCheckDeploymentHandler({
  ecs,
  config: env.STEPLINE_CONFIG,
  fetch: globalThis.fetch,
  logger,
});
