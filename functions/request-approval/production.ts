import { DescribeServicesCommand, DescribeTaskDefinitionCommand, type ECSClient } from '@aws-sdk/client-ecs';
import type { EcsTarget } from '#shared/deployment-config.ts';

/** The task-definition tag in which Deploy records the commit a revision runs. */
export const COMMIT_TAG = 'stepline:commit';

/** What production runs, as far as ECS tells. */
export type ProductionCommit =
  | { state: 'deployed'; commit: string }
  | { state: 'first'; note?: string }
  | { state: 'unknown'; note: string };

/**
 * The commit production runs: the `stepline:commit` tag of the task definition its service uses
 * (DescribeServices, then DescribeTaskDefinition with tags). A service that does not exist yet, or
 * runs a revision Stepline did not register, has never had a Stepline deployment: `first`.
 * Whatever cannot be learnt is `unknown` with the reason, never an error: the approval is still
 * worth asking for.
 */
export async function productionCommit(
  ecs: Pick<ECSClient, 'send'> | undefined,
  target: EcsTarget | undefined,
): Promise<ProductionCommit> {
  if (!target)
    return {
      state: 'unknown',
      note: 'no production service is configured for this repository (deploy.production in the deployment configuration)',
    };
  if (!ecs) return { state: 'unknown', note: 'ECS is not reachable from here to ask what production runs' };
  try {
    const described = await ecs.send(
      new DescribeServicesCommand({ cluster: target.cluster, services: [target.service] }),
    );
    const service = described.services?.find((s) => s.status !== 'INACTIVE');
    if (!service?.taskDefinition)
      return { state: 'first', note: 'the production service does not exist yet' };
    const definition = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: service.taskDefinition, include: ['TAGS'] }),
    );
    const commit = definition.tags?.find((tag) => tag.key === COMMIT_TAG)?.value;
    if (!commit)
      return {
        state: 'first',
        note: `the service runs ${service.taskDefinition.split('/').pop()}, which Stepline did not deploy`,
      };
    return { state: 'deployed', commit };
  } catch (error) {
    if ((error as Error).name === 'ClusterNotFoundException')
      return { state: 'first', note: `cluster ${target.cluster} does not exist yet` };
    return {
      state: 'unknown',
      note: `asking ECS what production runs failed: ${(error as Error).name}: ${(error as Error).message}`,
    };
  }
}
