import type { Logger } from '@aws-lambda-powertools/logger';
import type { Service } from '@aws-sdk/client-ecs';
import * as z from 'zod';
import {
  describeService,
  type Ecs,
  primaryDeployment,
  quoteEvents,
  type ResolvedTarget,
  type RevisionOrigin,
  Revisions,
  serviceEventsSince,
  targetForService,
  updateServiceTo,
} from '#functions/deploy/ecs.ts';
import { DeploymentState } from '#shared/deployment.ts';
import { type DeploymentConfig, Environment } from '#shared/deployment-config.ts';
import { DeploymentFailedError, DeploymentTimedOutError, TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import type { Fetch } from '#shared/provider-api.ts';

/** CheckStaging/CheckProduction: `{environment, deployment: $.staging | $.production}`. */
export const CheckDeploymentInput = z.object({ environment: Environment, deployment: DeploymentState });
export type CheckDeploymentInput = z.infer<typeof CheckDeploymentInput>;

/** How the smoke URL is tried once the rollout has completed. */
export interface SmokeOptions {
  /** @default 5 */
  attempts: number;
  /** Per request. @default 5000 */
  timeoutMs: number;
  /** Between attempts. @default 2000 */
  intervalMs: number;
}
export const defaultSmokeOptions: SmokeOptions = { attempts: 5, timeoutMs: 5_000, intervalMs: 2_000 };

export interface CheckDeploymentDeps {
  ecs: Ecs;
  /** The deployment configuration: smoke URL/path and percents of the target, found by cluster and service. */
  config: DeploymentConfig;
  /** For the smoke check. */
  fetch: Fetch;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** @default () => new Date() */
  now?: () => Date;
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  smoke?: Partial<SmokeOptions>;
}

/**
 * The CheckDeployment task, called in the state machine's Wait loop: where the rollout of
 * `deployment` stands. IN_PROGRESS → the same state, one more check; COMPLETED (and the smoke URL,
 * if any, answers 2xx) → `outcome: Completed`; FAILED or rolled back by the circuit breaker →
 * DeploymentFailedError quoting the service's events; past its deadline → the previous revision put
 * back and DeploymentTimedOutError; replaced by a later push of the same ref → `outcome: Superseded`.
 */
export async function checkDeployment(event: unknown, deps: CheckDeploymentDeps): Promise<DeploymentState> {
  const parsed = CheckDeploymentInput.safeParse(event);
  if (!parsed.success) {
    throw new TaskInputError(
      `CheckDeployment input is invalid:\n  ${formatZodError(parsed.error).join('\n  ')}`,
    );
  }
  const { environment, deployment: state } = parsed.data;
  if (state.outcome === 'Superseded') return state;
  return new Check(environment, state, deps).run();
}

class Check {
  readonly resolved: ResolvedTarget | undefined;
  readonly path: string;
  readonly now: Date;
  readonly revisions: Revisions;

  constructor(
    readonly environment: Environment,
    readonly state: DeploymentState,
    readonly deps: CheckDeploymentDeps,
  ) {
    this.resolved = targetForService(deps.config, environment, state.cluster, state.service);
    this.path = this.resolved?.path ?? `${state.cluster}/${state.service}`;
    this.now = (deps.now ?? (() => new Date()))();
    this.revisions = new Revisions(deps.ecs);
  }

  async run(): Promise<DeploymentState> {
    const { state } = this;
    const service = await describeService(this.deps.ecs, state, this.path);
    const primary = primaryDeployment(service);
    const deployments = service.deployments ?? [];
    // A deployment that puts our revision back (after a raced update was withdrawn) has a new id.
    const ours =
      primary && state.taskDefinitionArn !== undefined && primary.taskDefinition === state.taskDefinitionArn
        ? primary
        : deployments.find((deployment) => deployment.id === state.deploymentId);

    if (ours?.rolloutState === 'FAILED') {
      throw this.failed(
        service,
        `ECS marked deployment ${ours.id} FAILED${reasonOf(ours.rolloutStateReason)}`,
      );
    }
    if (ours && ours === primary) {
      const next = { ...state, ...(ours.id ? { deploymentId: ours.id } : {}), checks: state.checks + 1 };
      if (ours.rolloutState === 'COMPLETED') return this.completed(service, next);
      if (this.pastDeadline()) throw await this.timedOut(service);
      return DeploymentState.parse({ ...next, rolloutState: 'IN_PROGRESS' });
    }

    // Our deployment is no longer the PRIMARY one: find out what replaced it.
    if (primary?.taskDefinition !== undefined && primary.taskDefinition === state.previousTaskDefinitionArn) {
      throw this.failed(service, `the service was rolled back to ${primary.taskDefinition}`);
    }
    const replacing = primary?.taskDefinition
      ? await this.revisions.get(primary.taskDefinition).catch(() => undefined)
      : undefined;
    const mine = state.taskDefinitionArn
      ? await this.revisions.get(state.taskDefinitionArn).catch(() => undefined)
      : undefined;
    if (replacing && mine && isLater(replacing.origin, mine.origin)) {
      this.deps.logger.info('superseded during rollout', {
        environment: this.environment,
        commit: state.commit,
        by: replacing.origin.commit,
      });
      return DeploymentState.parse({
        ...state,
        outcome: 'Superseded',
        rolloutState: 'COMPLETED',
        supersededBy: replacing.origin.commit ?? replacing.arn,
        checks: state.checks + 1,
      });
    }
    if (ours?.rolloutState === 'IN_PROGRESS' && !this.pastDeadline()) {
      // Another rollout raced ours and will withdraw (see deploy.ts, startRollout): keep waiting.
      return DeploymentState.parse({ ...state, rolloutState: 'IN_PROGRESS', checks: state.checks + 1 });
    }
    throw this.failed(
      service,
      `it was replaced by ${primary?.taskDefinition ?? 'another deployment'} (${describe(replacing?.origin)})`,
    );
  }

  async completed(service: Service, next: DeploymentState): Promise<DeploymentState> {
    const smoke = this.smokeTarget();
    if (smoke && 'problem' in smoke) {
      const restored = await this.rollBackIfRolledOut(service);
      throw new DeploymentFailedError(`${this.what()} completed, but ${smoke.problem}; ${restored}`);
    }
    if (smoke) {
      const result = await smokeCheck(smoke.url, this.deps);
      if (!result.ok) {
        const restored = await this.rollBackIfRolledOut(service);
        throw new DeploymentFailedError(
          `${this.what()} completed, but the smoke check ${smoke.url} did not answer 2xx in ${result.attempts} tries (last: ${result.detail}); ${restored}`,
        );
      }
      this.deps.logger.info('smoke check passed', { url: smoke.url, status: result.status });
    }
    return DeploymentState.parse({ ...next, outcome: 'Completed', rolloutState: 'COMPLETED' });
  }

  /** The configured smoke URL, or the smoke path on the service's URL; a path without a URL is a problem. */
  smokeTarget(): { url: string } | { problem: string } | undefined {
    const target = this.resolved?.target;
    if (target?.smokeUrl) return { url: target.smokeUrl };
    if (!target?.smokePath) return undefined;
    if (!this.state.url) {
      return { problem: `${this.path}.smokePath is set but the service has no URL to check it on` };
    }
    return { url: new URL(target.smokePath, this.state.url).toString() };
  }

  pastDeadline(): boolean {
    return this.now.getTime() > Date.parse(this.state.deadline);
  }

  async timedOut(service: Service): Promise<DeploymentTimedOutError> {
    const restored = await this.rollBack(service);
    const limit = this.resolved
      ? ` (${this.path}.timeoutSeconds = ${this.resolved.target.timeoutSeconds})`
      : '';
    return new DeploymentTimedOutError(
      `${this.what()} did not complete by its deadline ${this.state.deadline}${limit}; ${restored}. ECS service events since ${this.state.startedAt}:${quoteEvents(serviceEventsSince(service, this.state.startedAt, 5))}`,
    );
  }

  failed(service: Service, why: string): DeploymentFailedError {
    return new DeploymentFailedError(
      `${this.what()} failed: ${why}. ECS service events since ${this.state.startedAt}:${quoteEvents(serviceEventsSince(service, this.state.startedAt, 5))}`,
    );
  }

  /**
   * After a failed smoke check: puts the previous revision back, unless this run rolled nothing out
   * (Deploy found exactly this image already serving and said `Completed`); then the service stays as
   * it was, and the run still fails.
   */
  async rollBackIfRolledOut(service: Service): Promise<string> {
    if (this.state.outcome === 'Completed') {
      return 'this run rolled nothing out (the image was already serving), so nothing was put back';
    }
    return this.rollBack(service);
  }

  /** Puts the recorded previous revision back (same UpdateService path as Deploy); says what it did. */
  async rollBack(service: Service): Promise<string> {
    const previous = this.state.previousTaskDefinitionArn;
    if (!previous) return 'no previous revision was recorded, so nothing was put back';
    const target = this.resolved?.target;
    await updateServiceTo(this.deps.ecs, service, previous, {
      cluster: this.state.cluster,
      service: this.state.service,
      ...(target
        ? { minimumHealthyPercent: target.minimumHealthyPercent, maximumPercent: target.maximumPercent }
        : {}),
    });
    this.deps.logger.warn('rolled back', { environment: this.environment, to: previous });
    return `rolled back to ${previous}`;
  }

  what(): string {
    const { state } = this;
    const revision = state.taskDefinitionArn ? `${state.taskDefinitionArn} ` : '';
    return `${this.environment} rollout of ${revision}(commit ${state.commit.slice(0, 12)}) to ${state.cluster}/${state.service}`;
  }
}

/** Whether `theirs` is a later push of the same ref than `ours`, from another execution. */
function isLater(theirs: RevisionOrigin, ours: RevisionOrigin): boolean {
  if (!theirs.ref || theirs.ref !== ours.ref || theirs.execution === ours.execution) return false;
  const a = Date.parse(theirs.startedAt ?? '');
  const b = Date.parse(ours.startedAt ?? '');
  return Number.isFinite(a) && Number.isFinite(b) && a > b;
}

function describe(origin: RevisionOrigin | undefined): string {
  if (!origin?.execution) return 'not started by Stepline';
  return `execution ${origin.execution}${origin.commit ? `, commit ${origin.commit.slice(0, 12)}` : ''}`;
}

const reasonOf = (reason: string | undefined) => (reason ? ` (${reason})` : '');

type SmokeResult = { ok: true; status: number } | { ok: false; attempts: number; detail: string };

/** GETs `url` until it answers 2xx, a few times with a short timeout each. */
export async function smokeCheck(
  url: string,
  deps: Pick<CheckDeploymentDeps, 'fetch' | 'sleep' | 'smoke'>,
): Promise<SmokeResult> {
  const options = { ...defaultSmokeOptions, ...deps.smoke };
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let detail = 'not tried';
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    try {
      const response = await deps.fetch(url, { signal: AbortSignal.timeout(options.timeoutMs) });
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
      detail = `HTTP ${response.status}`;
    } catch (error) {
      detail = (error as Error).message;
    }
    if (attempt < options.attempts) await sleep(options.intervalMs);
  }
  return { ok: false, attempts: options.attempts, detail };
}
