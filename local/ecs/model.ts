import { z } from 'zod';

/**
 * Request and record shapes of the local ECS, in the API's own camelCase. Unknown fields are
 * kept (`looseObject`): a task definition registered here comes back from DescribeTaskDefinition
 * with every field it was given, as on AWS, so a copy made by the Deploy Lambda loses nothing.
 */

const Name = z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'expected up to 255 letters, digits, - or _');

export const Tag = z.looseObject({
  key: z.string().min(1).max(128),
  value: z.string().max(256).default(''),
});
export type Tag = z.infer<typeof Tag>;

export const KeyValuePair = z.looseObject({ name: z.string().min(1), value: z.string().default('') });

export const HealthCheck = z.looseObject({
  command: z
    .array(z.string())
    .min(1)
    .refine((command) => ['CMD', 'CMD-SHELL', 'NONE'].includes(command[0]!), {
      message: 'expected the command to start with "CMD", "CMD-SHELL" or "NONE"',
    }),
  /** Seconds between checks. @default 30 */
  interval: z.number().int().min(5).max(300).optional(),
  /** Seconds one check may take. @default 5 */
  timeout: z.number().int().min(2).max(120).optional(),
  /** Consecutive failures that make a container UNHEALTHY. @default 3 */
  retries: z.number().int().min(1).max(10).optional(),
  /** Seconds after start during which failures do not count. @default 0 */
  startPeriod: z.number().int().min(0).max(300).optional(),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

export const ContainerDefinition = z.looseObject({
  name: Name,
  image: z.string().min(1),
  essential: z.boolean().optional(),
  environment: z.array(KeyValuePair).optional(),
  entryPoint: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  workingDirectory: z.string().optional(),
  healthCheck: HealthCheck.optional(),
  /** Seconds between SIGTERM and SIGKILL. @default 30 */
  stopTimeout: z.number().int().min(0).max(120).optional(),
  cpu: z.number().int().optional(),
  memory: z.number().int().optional(),
});
export type ContainerDefinition = z.infer<typeof ContainerDefinition>;

export const RegisterTaskDefinitionRequest = z.looseObject({
  family: Name,
  containerDefinitions: z.array(ContainerDefinition).min(1),
  cpu: z.string().optional(),
  memory: z.string().optional(),
  tags: z.array(Tag).optional(),
});

/** A registered revision, as DescribeTaskDefinition returns it. */
export const TaskDefinition = RegisterTaskDefinitionRequest.omit({ tags: true }).extend({
  taskDefinitionArn: z.string(),
  revision: z.number().int().positive(),
  status: z.enum(['ACTIVE', 'INACTIVE', 'DELETE_IN_PROGRESS']),
  /** Epoch seconds. */
  registeredAt: z.number(),
  deregisteredAt: z.number().optional(),
});
export type TaskDefinition = z.infer<typeof TaskDefinition>;

const Include = z.array(z.string()).optional();

export const DescribeTaskDefinitionRequest = z.looseObject({
  taskDefinition: z.string().min(1),
  include: Include,
});
export const DeregisterTaskDefinitionRequest = z.looseObject({ taskDefinition: z.string().min(1) });
export const ListTaskDefinitionsRequest = z.looseObject({
  familyPrefix: z.string().optional(),
  status: z.enum(['ACTIVE', 'INACTIVE', 'DELETE_IN_PROGRESS']).optional(),
  sort: z.enum(['ASC', 'DESC']).optional(),
  maxResults: z.number().int().min(1).max(100).optional(),
  nextToken: z.string().optional(),
});

export const DeploymentCircuitBreaker = z.looseObject({ enable: z.boolean(), rollback: z.boolean() });
export const DeploymentConfiguration = z.looseObject({
  deploymentCircuitBreaker: DeploymentCircuitBreaker.optional(),
  maximumPercent: z.number().int().min(100).max(200).optional(),
  minimumHealthyPercent: z.number().int().min(0).max(100).optional(),
});
export type DeploymentConfiguration = z.infer<typeof DeploymentConfiguration>;

export const CreateServiceRequest = z.looseObject({
  cluster: z.string().optional(),
  serviceName: Name,
  taskDefinition: z.string().min(1),
  desiredCount: z.number().int().min(0).optional(),
  deploymentConfiguration: DeploymentConfiguration.optional(),
  healthCheckGracePeriodSeconds: z.number().int().min(0).optional(),
  tags: z.array(Tag).optional(),
});

export const UpdateServiceRequest = z.looseObject({
  cluster: z.string().optional(),
  service: z.string().min(1),
  taskDefinition: z.string().min(1).optional(),
  desiredCount: z.number().int().min(0).optional(),
  deploymentConfiguration: DeploymentConfiguration.optional(),
  forceNewDeployment: z.boolean().optional(),
  healthCheckGracePeriodSeconds: z.number().int().min(0).optional(),
});

export const DeleteServiceRequest = z.looseObject({
  cluster: z.string().optional(),
  service: z.string().min(1),
  force: z.boolean().optional(),
});

export const DescribeServicesRequest = z.looseObject({
  cluster: z.string().optional(),
  services: z.array(z.string().min(1)).min(1).max(10),
  include: Include,
});

export const ListServicesRequest = z.looseObject({
  cluster: z.string().optional(),
  maxResults: z.number().int().min(1).max(100).optional(),
  nextToken: z.string().optional(),
});

export const ListTasksRequest = z.looseObject({
  cluster: z.string().optional(),
  serviceName: z.string().optional(),
  family: z.string().optional(),
  startedBy: z.string().optional(),
  desiredStatus: z.enum(['RUNNING', 'PENDING', 'STOPPED']).optional(),
  maxResults: z.number().int().min(1).max(100).optional(),
  nextToken: z.string().optional(),
});

export const DescribeTasksRequest = z.looseObject({
  cluster: z.string().optional(),
  tasks: z.array(z.string().min(1)).min(1).max(100),
  include: Include,
});

export const ContainerOverride = z.looseObject({
  name: z.string().min(1),
  environment: z.array(KeyValuePair).optional(),
  command: z.array(z.string()).optional(),
});

export const RunTaskRequest = z.looseObject({
  cluster: z.string().optional(),
  taskDefinition: z.string().min(1),
  count: z.number().int().min(1).max(10).optional(),
  overrides: z
    .looseObject({
      containerOverrides: z.array(ContainerOverride).optional(),
      cpu: z.string().optional(),
      memory: z.string().optional(),
    })
    .optional(),
  startedBy: z.string().max(128).optional(),
  group: z.string().optional(),
  launchType: z.string().optional(),
  tags: z.array(Tag).optional(),
});
export type RunTaskRequest = z.infer<typeof RunTaskRequest>;

export const StopTaskRequest = z.looseObject({
  cluster: z.string().optional(),
  task: z.string().min(1),
  reason: z.string().max(255).optional(),
});

export const TagResourceRequest = z.looseObject({ resourceArn: z.string().min(1), tags: z.array(Tag) });
export const UntagResourceRequest = z.looseObject({
  resourceArn: z.string().min(1),
  tagKeys: z.array(z.string()),
});
export const ListTagsForResourceRequest = z.looseObject({ resourceArn: z.string().min(1) });

export const CreateClusterRequest = z.looseObject({
  clusterName: Name.optional(),
  tags: z.array(Tag).optional(),
});
export const ListClustersRequest = z.looseObject({
  maxResults: z.number().int().min(1).max(100).optional(),
  nextToken: z.string().optional(),
});
export const DescribeClustersRequest = z.looseObject({
  clusters: z.array(z.string().min(1)).max(100).optional(),
  include: Include,
});

export const deploymentRolloutStates = ['IN_PROGRESS', 'COMPLETED', 'FAILED'] as const;

/** One ECS deployment of a service. Counts are filled in live by the scheduler. */
export const Deployment = z.object({
  id: z.string(),
  status: z.enum(['PRIMARY', 'ACTIVE', 'INACTIVE']),
  taskDefinition: z.string(),
  desiredCount: z.number().int(),
  pendingCount: z.number().int(),
  runningCount: z.number().int(),
  failedTasks: z.number().int(),
  createdAt: z.number(),
  updatedAt: z.number(),
  launchType: z.string(),
  rolloutState: z.enum(deploymentRolloutStates),
  rolloutStateReason: z.string(),
  /** Set on a rollback the circuit breaker started: the deployment it rolls back to (not sent). */
  rollbackTo: z.string().optional(),
});
export type Deployment = z.infer<typeof Deployment>;

export const ServiceEvent = z.object({ id: z.string(), createdAt: z.number(), message: z.string() });
export type ServiceEvent = z.infer<typeof ServiceEvent>;

/** A service as stored in `<data>/ecs/services/<cluster>/<name>.json`: its desired state and history. */
export const StoredService = z.object({
  serviceArn: z.string(),
  serviceName: z.string(),
  clusterArn: z.string(),
  status: z.enum(['ACTIVE', 'DRAINING', 'INACTIVE']),
  taskDefinition: z.string(),
  desiredCount: z.number().int(),
  deploymentConfiguration: z.object({
    deploymentCircuitBreaker: z.object({ enable: z.boolean(), rollback: z.boolean() }),
    maximumPercent: z.number().int(),
    minimumHealthyPercent: z.number().int(),
  }),
  healthCheckGracePeriodSeconds: z.number().int().optional(),
  deployments: z.array(Deployment),
  events: z.array(ServiceEvent),
  createdAt: z.number(),
  tags: z.array(z.object({ key: z.string(), value: z.string() })),
  /** The last deployment that COMPLETED: what the circuit breaker rolls back to. */
  lastCompleted: z.object({ id: z.string(), taskDefinition: z.string() }).optional(),
  /** The loopback port of the service's proxy, reused after a restart. */
  proxyPort: z.number().int().optional(),
  /** Everything CreateService was given beyond the fields above, returned as given. */
  extra: z.record(z.string(), z.unknown()).default({}),
});
export type StoredService = z.infer<typeof StoredService>;
