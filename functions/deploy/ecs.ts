import {
  type ContainerDefinition,
  type Deployment,
  type DeploymentConfiguration,
  DescribeServicesCommand,
  type DescribeServicesCommandOutput,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  ECSServiceException,
  type Service,
  type Tag,
  type TaskDefinition,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import {
  type DeploymentConfig,
  type EcsTarget,
  type Environment,
  findRepositoryConfig,
  matchesRepository,
} from '#shared/deployment-config.ts';
import { DeploymentFailedError } from '#shared/errors.ts';
import type { Provider } from '#shared/push-event.ts';

/** The ECS client as Deploy and CheckDeployment use it: `send` only, so tests pass a mock. */
export type Ecs = Pick<ECSClient, 'send'>;

/**
 * Tags Stepline puts on the task-definition revisions it registers. They say which push a revision
 * came from, so a later Deploy can refuse to go backwards, and which revision it replaced, so
 * `stepline rollback` knows where to go back to.
 */
export const tagKeys = {
  commit: 'stepline:commit',
  /** The full git ref (`refs/heads/main`), {@link tagValue encoded} when it has characters ECS refuses. */
  ref: 'stepline:ref',
  /** The execution's start time (`$$.Execution.StartTime`): the order of pushes on one ref. */
  startedAt: 'stepline:started-at',
  execution: 'stepline:execution',
  /** ARN of the revision the service ran before this one. */
  previous: 'stepline:previous',
  environment: 'stepline:environment',
  /** On the service (not the revision): where it answers, e.g. the local ECS proxy URL. */
  url: 'stepline:url',
} as const;

/** What a revision's Stepline tags say about its origin; every field is absent on a revision Stepline did not register. */
export interface RevisionOrigin {
  commit?: string;
  ref?: string;
  startedAt?: string;
  execution?: string;
  previous?: string;
}

/** A task-definition revision with its tags, as DescribeTaskDefinition returns it. */
export interface Revision {
  arn: string;
  taskDefinition: TaskDefinition;
  tags: Tag[];
  origin: RevisionOrigin;
}

/** ECS tag values: at most 256 of letters, digits, spaces and `+ - = . _ : / @`. */
const tagValuePattern = /^[\p{L}\p{N} +\-=._:/@]{0,256}$/u;

/**
 * A tag value for `text`: itself when ECS accepts it, else `sha256:<hex>` of it (a git ref may hold
 * `#`, `!` or be longer than 256). Equal inputs give equal values, which is all the comparison needs.
 */
export async function tagValue(text: string): Promise<string> {
  if (tagValuePattern.test(text)) return text;
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return `sha256:${Buffer.from(digest).toString('hex')}`;
}

export function tagOf(tags: readonly Tag[] | undefined, key: string): string | undefined {
  return tags?.find((tag) => tag.key === key)?.value;
}

export function readOrigin(tags: readonly Tag[] | undefined): RevisionOrigin {
  const origin: RevisionOrigin = {};
  const set = (field: keyof RevisionOrigin, key: string) => {
    const value = tagOf(tags, key);
    if (value !== undefined && value !== '') origin[field] = value;
  };
  set('commit', tagKeys.commit);
  set('ref', tagKeys.ref);
  set('startedAt', tagKeys.startedAt);
  set('execution', tagKeys.execution);
  set('previous', tagKeys.previous);
  return origin;
}

/** The configured target of one environment, with the config path that names it (for messages). */
export interface ResolvedTarget {
  target: EcsTarget;
  /** e.g. `repositories[2].deploy.staging` */
  path: string;
}

/**
 * Where a push of `fullName` deploys in `environment`: only the deployment configuration says, never
 * the pushed repository. No target is an error naming the config path to fill in: a pipeline that
 * reaches Deploy must have somewhere to deploy.
 */
export function targetForRepository(
  config: DeploymentConfig,
  environment: Environment,
  provider: Provider,
  fullName: string,
): ResolvedTarget {
  const entry = findRepositoryConfig(config, provider, fullName);
  if (!entry) {
    throw new DeploymentFailedError(
      `${provider} repository "${fullName}" is not in the deployment configuration, so it has no ${environment} target`,
    );
  }
  const index = config.repositories.indexOf(entry);
  const path = `repositories[${index}].deploy.${environment}`;
  const target = entry.deploy?.[environment];
  if (!target) {
    throw new DeploymentFailedError(
      `no ${environment} target for ${provider} repository "${fullName}": set ${path} ({cluster, service, container}) in the deployment configuration (repository entry "${entry.name}")`,
    );
  }
  return { target, path };
}

/**
 * The configured target of a service that a deployment state names (CheckDeployment has no push):
 * the first repository whose `deploy.<environment>` names the same cluster and service.
 */
export function targetForService(
  config: DeploymentConfig,
  environment: Environment,
  cluster: string,
  service: string,
): ResolvedTarget | undefined {
  for (const [index, entry] of config.repositories.entries()) {
    const target = entry.deploy?.[environment];
    if (target && target.cluster === cluster && target.service === service) {
      return { target, path: `repositories[${index}].deploy.${environment}` };
    }
  }
  return undefined;
}

/** Configured repositories matching a `--repository` given on the command line (any provider). */
export function repositoriesNamed(config: DeploymentConfig, fullName: string) {
  return config.repositories.filter((entry) => matchesRepository(entry.name, fullName));
}

/** ECS errors that no retry will fix: turned into a {@link DeploymentFailedError} naming the call. */
const permanentEcsErrors = new Set([
  'AccessDeniedException',
  'ClientException',
  'InvalidParameterException',
  'ServiceNotFoundException',
  'ServiceNotActiveException',
  'ClusterNotFoundException',
  'PlatformUnknownException',
  'PlatformTaskDefinitionIncompatibilityException',
  'UnsupportedFeatureException',
]);

/**
 * Runs one ECS call; a permanent ECS error becomes a DeploymentFailedError that says what was being
 * done (`what`). Throttling and server errors pass through unchanged (the SDK has retried them).
 */
export async function ecsCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw asDeploymentError(what, error);
  }
}

function asDeploymentError(what: string, error: unknown): unknown {
  if (error instanceof ECSServiceException && permanentEcsErrors.has(error.name)) {
    return new DeploymentFailedError(`${what}: ${error.name}: ${error.message}`, { cause: error });
  }
  return error;
}

/**
 * The service, with its tags. A missing cluster, a missing or inactive service, or a service whose
 * deployments ECS does not control (CodeDeploy, external) is a DeploymentFailedError naming it and the
 * config path; nothing has been touched at that point.
 */
export async function describeService(
  ecs: Ecs,
  target: Pick<EcsTarget, 'cluster' | 'service'>,
  path: string,
): Promise<Service> {
  const where = `service "${target.service}" in cluster "${target.cluster}" (${path})`;
  let response: DescribeServicesCommandOutput;
  try {
    response = await ecs.send(
      new DescribeServicesCommand({ cluster: target.cluster, services: [target.service], include: ['TAGS'] }),
    );
  } catch (error) {
    if (error instanceof ECSServiceException && error.name === 'ClusterNotFoundException') {
      throw new DeploymentFailedError(`cluster "${target.cluster}" does not exist (${path}.cluster)`, {
        cause: error,
      });
    }
    throw asDeploymentError(`DescribeServices ${target.cluster}/${target.service}`, error);
  }
  const service = response.services?.[0];
  if (!service) {
    const reason = response.failures?.[0]?.reason ?? 'not returned';
    throw new DeploymentFailedError(
      reason === 'MISSING' ? `${where} does not exist` : `${where} could not be described: ${reason}`,
    );
  }
  if (service.status !== 'ACTIVE') {
    throw new DeploymentFailedError(`${where} is ${service.status ?? 'not active'}, not ACTIVE`);
  }
  const controller = service.deploymentController?.type ?? 'ECS';
  if (controller !== 'ECS') {
    throw new DeploymentFailedError(
      `${where} uses the ${controller} deployment controller; Stepline rolls out services whose deployments ECS controls`,
    );
  }
  return service;
}

/** The service's PRIMARY deployment: what it runs, or is rolling out to. */
export function primaryDeployment(service: Service): Deployment | undefined {
  return service.deployments?.find((deployment) => deployment.status === 'PRIMARY');
}

export const isInProgress = (deployment: Deployment) => deployment.rolloutState === 'IN_PROGRESS';

/** Revisions looked up once per invocation, with their tags. */
export class Revisions {
  readonly #cache = new Map<string, Promise<Revision>>();
  constructor(private readonly ecs: Ecs) {}

  get(taskDefinition: string): Promise<Revision> {
    let revision = this.#cache.get(taskDefinition);
    if (!revision) {
      revision = this.#describe(taskDefinition);
      this.#cache.set(taskDefinition, revision);
    }
    return revision;
  }

  async #describe(taskDefinition: string): Promise<Revision> {
    const response = await ecsCall(`DescribeTaskDefinition ${taskDefinition}`, () =>
      this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition, include: ['TAGS'] })),
    );
    const definition = response.taskDefinition;
    if (!definition?.taskDefinitionArn) {
      throw new DeploymentFailedError(`DescribeTaskDefinition ${taskDefinition} returned no task definition`);
    }
    const tags = response.tags ?? [];
    const revision = {
      arn: definition.taskDefinitionArn,
      taskDefinition: definition,
      tags,
      origin: readOrigin(tags),
    };
    this.#cache.set(revision.arn, Promise.resolve(revision));
    return revision;
  }
}

/** The target container of a revision, or a DeploymentFailedError listing the containers it has. */
export function targetContainer(revision: Revision, container: string, path: string): ContainerDefinition {
  const containers = revision.taskDefinition.containerDefinitions ?? [];
  const found = containers.find((definition) => definition.name === container);
  if (!found) {
    const names = containers.map((definition) => `"${definition.name}"`).join(', ') || 'none';
    throw new DeploymentFailedError(
      `task definition ${revision.arn} has no container "${container}" (${path}.container); its containers: ${names}`,
    );
  }
  return found;
}

/** Where and how a rollout goes: the configured target, or just the service when no target is known. */
export interface RolloutSettings {
  cluster: string;
  service: string;
  minimumHealthyPercent?: number;
  maximumPercent?: number;
  desiredCount?: number;
}

/**
 * The deployment configuration every Stepline rollout uses: the service's own settings (alarms,
 * strategy, bake time) kept, the circuit breaker on with rollback, and the configured percents.
 */
export function deploymentConfigurationFor(
  service: Service,
  settings: RolloutSettings,
): DeploymentConfiguration {
  return {
    ...service.deploymentConfiguration,
    deploymentCircuitBreaker: { enable: true, rollback: true },
    ...(settings.minimumHealthyPercent !== undefined
      ? { minimumHealthyPercent: settings.minimumHealthyPercent }
      : {}),
    ...(settings.maximumPercent !== undefined ? { maximumPercent: settings.maximumPercent } : {}),
  };
}

/** UpdateService to `taskDefinition` with {@link deploymentConfigurationFor}; the service as ECS returns it. */
export async function updateServiceTo(
  ecs: Ecs,
  current: Service,
  taskDefinition: string,
  settings: RolloutSettings,
): Promise<Service> {
  const response = await ecsCall(
    `UpdateService ${settings.cluster}/${settings.service} to ${taskDefinition}`,
    () =>
      ecs.send(
        new UpdateServiceCommand({
          cluster: settings.cluster,
          service: settings.service,
          taskDefinition,
          deploymentConfiguration: deploymentConfigurationFor(current, settings),
          ...(settings.desiredCount !== undefined ? { desiredCount: settings.desiredCount } : {}),
          forceNewDeployment: false,
        }),
      ),
  );
  if (!response.service) {
    throw new DeploymentFailedError(
      `UpdateService ${settings.cluster}/${settings.service} returned no service`,
    );
  }
  return response.service;
}

/** Events ECS logged for the service are kept with a few seconds' allowance for clock skew. */
const eventSkewMs = 5_000;

/**
 * The service's events since `since`, oldest first, at most `limit`, as `<ISO time> <ECS message>`:
 * ECS's own words for what happened to a rollout.
 */
export function serviceEventsSince(service: Service, since: string, limit = 15): string[] {
  const from = Date.parse(since) - eventSkewMs;
  const all = (service.events ?? [])
    .filter((event) => event.createdAt === undefined || event.createdAt.getTime() >= from)
    .sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
  // The events that explain a failure win over routine ones: a failure's message has a budget
  // (#shared/payload-budget.ts), and tasks started by a rollback would otherwise crowd out
  // "deployment failed".
  const explaining = all.filter((event) => explainsFailure.test(event.message ?? ''));
  return (explaining.length > 0 ? explaining : all)
    .slice(-limit)
    .map((event) => `${event.createdAt?.toISOString() ?? '(no time)'} ${event.message ?? ''}`.trim());
}

const explainsFailure =
  /deployment failed|rolling back|unhealthy|failed|exited|essential container|CannotPull/i;

/** `events` as the indented lines an error message quotes. */
export function quoteEvents(events: readonly string[]): string {
  return events.length === 0 ? ' (ECS logged no service events)' : `\n  ${events.join('\n  ')}`;
}
