import { notImplemented } from '#shared/not-implemented.ts';

/** DeployStaging/DeployProduction (ECS rollout): filled by the deployment and approval release. */
export const handler = async (_event: unknown): Promise<never> =>
  notImplemented('DeployStaging/DeployProduction (ECS rollout)');
