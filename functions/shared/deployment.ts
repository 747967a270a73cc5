import * as z from 'zod';
import { Environment } from './deployment-config.ts';
import { PublishedImage } from './published-image.ts';

/**
 * What DeployStaging/DeployProduction return and CheckStaging/CheckProduction pass on, kept at
 * `$.staging` / `$.production`. `rolloutState` drives the ASL's Wait loop; `outcome` tells a
 * deployment from a push that was superseded by a newer commit already running.
 */
export const DeploymentState = z.object({
  environment: Environment,
  /** `Deploying` until the check says otherwise; `Superseded`: nothing was deployed, a newer commit runs. */
  outcome: z.enum(['Deploying', 'Completed', 'Superseded']),
  cluster: z.string(),
  service: z.string(),
  container: z.string(),
  /** The commit being deployed. */
  commit: z.string(),
  imageUri: z.string(),
  /** The revision registered for this commit (absent when superseded). */
  taskDefinitionArn: z.string().optional(),
  /** The revision the service ran before: what a rollback puts back. */
  previousTaskDefinitionArn: z.string().optional(),
  /** Commit of the previous revision, from its tags; absent when unknown. */
  previousCommit: z.string().optional(),
  /** ECS deployment id (`ecs-svc/…`). */
  deploymentId: z.string().optional(),
  /** ECS `rolloutState` of that deployment. */
  rolloutState: z.enum(['IN_PROGRESS', 'COMPLETED', 'FAILED']),
  /** ISO time the rollout started, and the deadline past which it is rolled back. */
  startedAt: z.string(),
  deadline: z.string(),
  /** The service's URL, when the deployment configuration names one. */
  url: z.string().optional(),
  /** When superseded: the newer commit the service runs. */
  supersededBy: z.string().optional(),
  /** How many times CheckDeployment has looked. */
  checks: z.number().int().nonnegative().default(0),
});
export type DeploymentState = z.infer<typeof DeploymentState>;

export { PublishedImage };
