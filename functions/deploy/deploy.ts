import type { Logger } from '@aws-lambda-powertools/logger';
import {
  type Deployment,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type Service,
  type Tag,
  type TaskDefinition,
} from '@aws-sdk/client-ecs';
import * as z from 'zod';
import { DeploymentState } from '#shared/deployment.ts';
import { type DeploymentConfig, type EcsTarget, Environment } from '#shared/deployment-config.ts';
import { DeploymentFailedError, DeploymentInProgressError, TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { PublishedImage } from '#shared/published-image.ts';
import { Provider, PushEvent } from '#shared/push-event.ts';
import {
  describeService,
  type Ecs,
  ecsCall,
  isInProgress,
  primaryDeployment,
  type ResolvedTarget,
  type Revision,
  type RevisionOrigin,
  Revisions,
  type RolloutSettings,
  tagKeys,
  tagOf,
  tagValue,
  targetContainer,
  targetForRepository,
  updateServiceTo,
} from './ecs.ts';

/** The run as `PushReceived` names it; `startedAt` orders pushes of one ref, so it must be a time. */
export const DeployRun = z.object({
  name: z.string().min(1),
  executionArn: z.string().min(1),
  startedAt: z.iso.datetime({
    offset: true,
    message: 'expected an ISO 8601 time such as 2024-01-01T00:00:00Z',
  }),
});

/** DeployStaging/DeployProduction: roll the published image out to the environment's service. */
export const RolloutInput = z.object({
  environment: Environment,
  run: DeployRun,
  push: PushEvent,
  image: PublishedImage,
});
export type RolloutInput = z.infer<typeof RolloutInput>;

/**
 * `stepline rollback`: put a known revision back on the environment's service, through the same
 * UpdateService path (and the same CheckDeployment loop) as a rollout. The repository picks the
 * configured target; the revision is an ARN, `family:revision` or a revision number of the running
 * family, and defaults to the one the running revision records as its predecessor.
 */
export const RollbackInput = z.object({
  environment: Environment,
  repository: z.object({ provider: Provider, fullName: z.string().min(1) }),
  rollbackTo: z.string().min(1).optional(),
  reason: z.string().min(1),
});
export type RollbackInput = z.infer<typeof RollbackInput>;

export type DeployInput = RolloutInput | RollbackInput;

export interface DeployDeps {
  ecs: Ecs;
  /** The deployment configuration: the only source of clusters, services and containers. */
  config: DeploymentConfig;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** @default () => new Date() */
  now?: () => Date;
}

/** Fields of a described task definition that ECS sets itself and RegisterTaskDefinition does not take. */
export const readOnlyTaskDefinitionFields = [
  'taskDefinitionArn',
  'revision',
  'status',
  'requiresAttributes',
  'compatibilities',
  'registeredAt',
  'registeredBy',
  'deregisteredAt',
  'deleteRequestedAt',
] as const satisfies readonly (keyof TaskDefinition)[];

/** Parses either input; a bad one is a TaskInputError listing each bad field. */
export function parseDeployInput(event: unknown): DeployInput {
  const rollback =
    typeof event === 'object' &&
    event !== null &&
    !('push' in event) &&
    ('reason' in event || 'rollbackTo' in event);
  const parsed = (rollback ? RollbackInput : RolloutInput).safeParse(event);
  if (!parsed.success) {
    throw new TaskInputError(
      `Deploy ${rollback ? 'rollback ' : ''}input is invalid:\n  ${formatZodError(parsed.error).join('\n  ')}`,
    );
  }
  return parsed.data;
}

/**
 * The Deploy task: registers a revision of the service's running task definition that differs only
 * in the target container's image (by digest) and Stepline's tags, and updates the service with the
 * circuit breaker on. Ends as `Superseded` when the service already runs or rolls out a newer push of
 * the same ref; throws DeploymentInProgressError while another rollout is under way.
 */
export async function deploy(event: unknown, deps: DeployDeps): Promise<DeploymentState> {
  const input = parseDeployInput(event);
  return 'push' in input ? rollOut(input, deps) : rollBack(input, deps);
}

async function rollOut(input: RolloutInput, deps: DeployDeps): Promise<DeploymentState> {
  const { environment, run, push, image } = input;
  const resolved = targetForRepository(deps.config, environment, push.provider, push.repository.fullName);
  const { target, path } = resolved;
  const view = await ServiceView.load(deps.ecs, resolved);
  const { running } = view;
  const current = targetContainer(running, target.container, path);
  checkRoles(running, target, path);
  const base = {
    environment,
    cluster: target.cluster,
    service: target.service,
    container: target.container,
    commit: push.after,
    imageUri: image.uri,
    ...optional('url', serviceUrl(target, view.service, path)),
  };
  const now = clock(deps);
  const execution = await tagValue(run.name);

  // The state machine retried this Deploy after it had updated the service (its answer was lost):
  // report the rollout it started instead of starting another. Only while it is the PRIMARY one: a
  // deployment of ours that a raced update withdrew (see startRollout) drains as ACTIVE, and the
  // retry must wait and roll out anew.
  const own = view.described.find(
    ({ deployment, revision }) =>
      deployment === view.primary &&
      revision?.origin.execution === execution &&
      revision.origin.commit === push.after,
  );
  if (own?.revision) {
    const startedAt = own.deployment.createdAt ?? now;
    return DeploymentState.parse({
      ...base,
      outcome: 'Deploying',
      rolloutState: 'IN_PROGRESS',
      taskDefinitionArn: own.revision.arn,
      ...(await previousOf(view.revisions, own.revision.origin.previous)),
      ...optional('deploymentId', own.deployment.id),
      startedAt: startedAt.toISOString(),
      deadline: deadlineFrom(startedAt, target),
    });
  }

  // Exactly this image already serves and its rollout is over: there is nothing to roll out.
  if (current.image === image.uri && view.settled) {
    return DeploymentState.parse({
      ...base,
      outcome: 'Completed',
      rolloutState: 'COMPLETED',
      taskDefinitionArn: running.arn,
      ...(await previousOf(view.revisions, running.origin.previous)),
      ...optional('deploymentId', view.primary?.id),
      startedAt: now.toISOString(),
      deadline: now.toISOString(),
    });
  }

  // Never backwards: a later push of the same ref already runs here, or is rolling out.
  const ref = await tagValue(push.ref);
  const newer = view.described.find(
    ({ deployment, revision }) =>
      revision !== undefined &&
      (deployment === view.primary || isInProgress(deployment)) &&
      isLaterPush(revision.origin, ref, execution, run.startedAt),
  );
  if (newer?.revision) {
    deps.logger.info('superseded', {
      environment,
      commit: push.after,
      runningCommit: newer.revision.origin.commit,
      runningExecution: newer.revision.origin.execution,
    });
    return DeploymentState.parse({
      ...base,
      outcome: 'Superseded',
      rolloutState: 'COMPLETED',
      previousTaskDefinitionArn: running.arn,
      ...optional('previousCommit', running.origin.commit),
      ...optional('deploymentId', newer.deployment.id),
      supersededBy: newer.revision.origin.commit ?? newer.revision.arn,
      startedAt: now.toISOString(),
      deadline: now.toISOString(),
    });
  }

  // One rollout per environment: wait (the state machine retries with backoff) for any other.
  view.refuseWhileBusy(environment);

  const tags: Tag[] = [
    { key: tagKeys.commit, value: push.after },
    { key: tagKeys.ref, value: ref },
    { key: tagKeys.startedAt, value: run.startedAt },
    { key: tagKeys.execution, value: execution },
    { key: tagKeys.environment, value: environment },
  ];
  if (running.arn.length <= 256) tags.push({ key: tagKeys.previous, value: running.arn });
  else
    deps.logger.warn('previous revision ARN is too long for a tag; rollback needs --to', {
      arn: running.arn,
    });

  const registered = await ecsCall(`RegisterTaskDefinition (family ${running.taskDefinition.family})`, () =>
    deps.ecs.send(
      new RegisterTaskDefinitionCommand(
        copyRevision(running.taskDefinition, running.tags, target.container, image.uri, tags),
      ),
    ),
  ).catch((error: unknown) => {
    // On AWS the roles are enforced by IAM (the stack's iam:PassRole), not by the check above.
    if (error instanceof DeploymentFailedError && /iam:PassRole/.test(error.message)) {
      throw new DeploymentFailedError(
        `${error.message} (the stack lets Deploy pass only the roles set in ${path}.taskRoleArn and ${path}.executionRoleArn; the running revision ${running.arn} uses ${running.taskDefinition.taskRoleArn ?? 'no task role'} and ${running.taskDefinition.executionRoleArn ?? 'no execution role'})`,
        { cause: error },
      );
    }
    throw error;
  });
  const arn = registered.taskDefinition?.taskDefinitionArn;
  if (!arn)
    throw new DeploymentFailedError(
      `RegisterTaskDefinition (family ${running.taskDefinition.family}) returned no ARN`,
    );

  const deploymentId = await startRollout(deps, view, arn, settingsOf(target));
  const startedAt = clock(deps);
  deps.logger.info('rollout started', {
    environment,
    taskDefinitionArn: arn,
    deploymentId,
    commit: push.after,
  });
  return DeploymentState.parse({
    ...base,
    outcome: 'Deploying',
    rolloutState: 'IN_PROGRESS',
    taskDefinitionArn: arn,
    previousTaskDefinitionArn: running.arn,
    ...optional('previousCommit', running.origin.commit),
    deploymentId,
    startedAt: startedAt.toISOString(),
    deadline: deadlineFrom(startedAt, target),
  });
}

async function rollBack(input: RollbackInput, deps: DeployDeps): Promise<DeploymentState> {
  const { environment } = input;
  const resolved = targetForRepository(
    deps.config,
    environment,
    input.repository.provider,
    input.repository.fullName,
  );
  const { target, path } = resolved;
  const view = await ServiceView.load(deps.ecs, resolved);
  const { running } = view;
  view.refuseWhileBusy(environment);

  const wanted = input.rollbackTo ?? running.origin.previous;
  if (!wanted) {
    throw new DeploymentFailedError(
      `the running revision ${running.arn} of ${target.cluster}/${target.service} records no previous revision (tag ${tagKeys.previous}): name the revision to put back (--to)`,
    );
  }
  const to = await view.revisions.get(qualifyRevision(wanted, running.taskDefinition.family));
  const container = targetContainer(to, target.container, path);
  const base = {
    environment,
    cluster: target.cluster,
    service: target.service,
    container: target.container,
    commit: to.origin.commit ?? 'unknown',
    imageUri: container.image ?? 'unknown',
    taskDefinitionArn: to.arn,
    ...optional('url', serviceUrl(target, view.service, path)),
  };
  const now = clock(deps);
  if (to.arn === running.arn && view.settled) {
    return DeploymentState.parse({
      ...base,
      outcome: 'Completed',
      rolloutState: 'COMPLETED',
      ...(await previousOf(view.revisions, running.origin.previous)),
      ...optional('deploymentId', view.primary?.id),
      startedAt: now.toISOString(),
      deadline: now.toISOString(),
    });
  }
  deps.logger.info('rolling back', { environment, from: running.arn, to: to.arn, reason: input.reason });
  const deploymentId = await startRollout(deps, view, to.arn, settingsOf(target));
  const startedAt = clock(deps);
  return DeploymentState.parse({
    ...base,
    outcome: 'Deploying',
    rolloutState: 'IN_PROGRESS',
    previousTaskDefinitionArn: running.arn,
    ...optional('previousCommit', running.origin.commit),
    deploymentId,
    startedAt: startedAt.toISOString(),
    deadline: deadlineFrom(startedAt, target),
  });
}

/** The service as one Deploy saw it: its deployments, each with its revision's tags. */
class ServiceView {
  private constructor(
    readonly service: Service,
    readonly resolved: ResolvedTarget,
    readonly revisions: Revisions,
    readonly primary: Deployment | undefined,
    readonly running: Revision,
    readonly described: { deployment: Deployment; revision: Revision | undefined }[],
  ) {}

  static async load(ecs: Ecs, resolved: ResolvedTarget): Promise<ServiceView> {
    const service = await describeService(ecs, resolved.target, resolved.path);
    const revisions = new Revisions(ecs);
    const primary = primaryDeployment(service);
    const runningArn = primary?.taskDefinition ?? service.taskDefinition;
    if (!runningArn) {
      throw new DeploymentFailedError(
        `service "${resolved.target.service}" in cluster "${resolved.target.cluster}" (${resolved.path}) runs no task definition`,
      );
    }
    const running = await revisions.get(runningArn);
    const described = await Promise.all(
      (service.deployments ?? []).map(async (deployment) => ({
        deployment,
        revision: deployment.taskDefinition ? await revisions.get(deployment.taskDefinition) : undefined,
      })),
    );
    return new ServiceView(service, resolved, revisions, primary, running, described);
  }

  /** The PRIMARY deployment's rollout is over and nothing else rolls out. */
  get settled(): boolean {
    const deployments = this.service.deployments ?? [];
    if (deployments.some(isInProgress)) return false;
    const state = this.primary?.rolloutState;
    return state === 'COMPLETED' || (state === undefined && deployments.length <= 1);
  }

  /** Throws DeploymentInProgressError while any deployment of the service is IN_PROGRESS. */
  refuseWhileBusy(environment: string): void {
    const busy = this.described.find(({ deployment }) => isInProgress(deployment));
    if (!busy) return;
    const { target, path } = this.resolved;
    throw new DeploymentInProgressError(
      `${environment} service ${target.cluster}/${target.service} (${path}) is rolling out ${busy.deployment.taskDefinition} (deployment ${busy.deployment.id}, ${describeOrigin(busy.revision?.origin)}, since ${busy.deployment.createdAt?.toISOString() ?? 'an unknown time'}); one rollout per environment, so this one waits for it to finish`,
    );
  }
}

/**
 * UpdateService to `taskDefinitionArn`, then the re-check that makes "one rollout per environment"
 * hold when two Deploys both saw the service idle: ECS applies updates to one service one after
 * the other, so the later of two racing updates finds the earlier one's deployment in its own
 * UpdateService answer (a deployment that was not there when it looked). The later one yields: it
 * puts the earlier one's revision back and throws DeploymentInProgressError, to be retried.
 */
async function startRollout(
  deps: DeployDeps,
  view: ServiceView,
  taskDefinitionArn: string,
  settings: RolloutSettings,
): Promise<string> {
  const after = await updateServiceTo(deps.ecs, view.service, taskDefinitionArn, settings);
  const deployments = after.deployments ?? [];
  const ours =
    deployments.find((d) => d.status === 'PRIMARY' && d.taskDefinition === taskDefinitionArn) ??
    deployments.find((d) => d.taskDefinition === taskDefinitionArn);
  if (!ours?.id) {
    throw new DeploymentFailedError(
      `UpdateService ${settings.cluster}/${settings.service} answered without a deployment of ${taskDefinitionArn}`,
    );
  }
  const seen = new Set((view.service.deployments ?? []).map((d) => d.id));
  const racing = deployments
    .filter(
      (d) =>
        d.id !== ours.id &&
        !seen.has(d.id) &&
        d.rolloutState !== 'FAILED' &&
        d.taskDefinition !== undefined &&
        d.taskDefinition !== taskDefinitionArn,
    )
    .sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0));
  const first = racing[0];
  if (first?.taskDefinition) {
    const origin = await view.revisions
      .get(first.taskDefinition)
      .then((revision) => revision.origin)
      .catch(() => undefined);
    await updateServiceTo(deps.ecs, after, first.taskDefinition, settings);
    deps.logger.warn('rollout raced another; withdrew it', {
      withdrawn: taskDefinitionArn,
      restored: first.taskDefinition,
    });
    throw new DeploymentInProgressError(
      `${settings.cluster}/${settings.service}: ${describeOrigin(origin)} started a rollout of ${first.taskDefinition} at the same moment; it went first, so this rollout of ${taskDefinitionArn} was withdrawn (the service is back on ${first.taskDefinition}) and waits for it`,
    );
  }
  return ours.id;
}

/**
 * RegisterTaskDefinition input for a copy of `running`: every field kept (containers, secrets, log
 * configuration, health checks, volumes, roles, runtime platform, and any field ECS adds later)
 * except the read-only ones, with the target container's image replaced and Stepline's tags set
 * over the running revision's other tags.
 */
export function copyRevision(
  running: TaskDefinition,
  runningTags: readonly Tag[],
  container: string,
  imageUri: string,
  tags: readonly Tag[],
): RegisterTaskDefinitionCommandInput {
  const readOnly = new Set<string>(readOnlyTaskDefinitionFields);
  const kept = Object.fromEntries(
    Object.entries(running).filter(([key, value]) => !readOnly.has(key) && value !== undefined),
  ) as Omit<TaskDefinition, (typeof readOnlyTaskDefinitionFields)[number]>;
  const ours = new Set(tags.map((tag) => tag.key));
  return {
    ...kept,
    family: running.family,
    containerDefinitions: (running.containerDefinitions ?? []).map((definition) =>
      definition.name === container ? { ...definition, image: imageUri } : definition,
    ),
    tags: [
      // `aws:` tags are ECS's own and cannot be set; Stepline's are replaced.
      ...runningTags.filter((tag) => !tag.key?.startsWith('aws:') && !ours.has(tag.key ?? '')),
      ...tags,
    ],
  };
}

/** Whether `origin` is a push of the same ref that started after this run (a different execution). */
function isLaterPush(origin: RevisionOrigin, ref: string, execution: string, startedAt: string): boolean {
  if (origin.ref !== ref || origin.startedAt === undefined || origin.execution === execution) return false;
  const theirs = Date.parse(origin.startedAt);
  return Number.isFinite(theirs) && theirs > Date.parse(startedAt);
}

function describeOrigin(origin: RevisionOrigin | undefined): string {
  if (!origin?.execution) return 'a deployment not started by Stepline';
  return `execution ${origin.execution}${origin.commit ? ` (commit ${origin.commit.slice(0, 12)})` : ''}`;
}

/**
 * The configured roles are the ones the AWS stack lets Deploy pass; a running revision with other
 * roles could not be registered again, so say so before touching anything.
 */
function checkRoles(running: Revision, target: EcsTarget, path: string): void {
  const roles = [
    ['taskRoleArn', running.taskDefinition.taskRoleArn, target.taskRoleArn],
    ['executionRoleArn', running.taskDefinition.executionRoleArn, target.executionRoleArn],
  ] as const;
  for (const [field, actual, configured] of roles) {
    if (actual !== undefined && configured !== undefined && actual !== configured) {
      throw new DeploymentFailedError(
        `the running revision ${running.arn} uses ${field} ${actual}, but ${path}.${field} is ${configured}; Stepline may pass only the configured role`,
      );
    }
  }
}

/** The configured URL, else the service's `stepline:url` tag. A smoke path needs one of them. */
function serviceUrl(target: EcsTarget, service: Service, path: string): string | undefined {
  const url = target.url ?? tagOf(service.tags, tagKeys.url);
  if (target.smokePath && !target.smokeUrl && !url) {
    throw new DeploymentFailedError(
      `${path}.smokePath is set but the service has no URL to put it on: set ${path}.url or ${path}.smokeUrl`,
    );
  }
  return url;
}

/** A revision number of `family`, `family:revision` or an ARN, as DescribeTaskDefinition takes it. */
export function qualifyRevision(revision: string, family: string | undefined): string {
  if (/^\d+$/.test(revision)) {
    if (!family)
      throw new DeploymentFailedError(`revision ${revision} given without a task-definition family`);
    return `${family}:${revision}`;
  }
  return revision;
}

async function previousOf(revisions: Revisions, arn: string | undefined) {
  if (!arn) return {};
  const commit = await revisions
    .get(arn)
    .then((revision) => revision.origin.commit)
    .catch(() => undefined);
  return { previousTaskDefinitionArn: arn, ...optional('previousCommit', commit) };
}

function settingsOf(target: EcsTarget): RolloutSettings {
  return {
    cluster: target.cluster,
    service: target.service,
    minimumHealthyPercent: target.minimumHealthyPercent,
    maximumPercent: target.maximumPercent,
    ...optional('desiredCount', target.desiredCount),
  };
}

function deadlineFrom(startedAt: Date, target: EcsTarget): string {
  return new Date(startedAt.getTime() + target.timeoutSeconds * 1000).toISOString();
}

const clock = (deps: DeployDeps) => (deps.now ?? (() => new Date()))();

/** `{[key]: value}` when the value is defined, else `{}` (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
