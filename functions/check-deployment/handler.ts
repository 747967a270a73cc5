import { notImplemented } from '#shared/not-implemented.ts';

/** CheckStaging/CheckProduction (ECS rollout status): filled by the deployment and approval release. */
export const handler = async (_event: unknown): Promise<never> =>
  notImplemented('CheckStaging/CheckProduction (ECS rollout status)');
