import { DeploymentConfig } from './deployment-config.ts';
import { jsonOf, parseEnv } from './parse-env.ts';

export { parseEnv };

/** `STEPLINE_CONFIG`: the deployment configuration as JSON, the same document the CDK app read. */
export const DeploymentConfigJson = jsonOf(DeploymentConfig);
