import type { CostHistoryEvent } from '#shared/cost/estimate.ts';
import {
  changeFailureRateBand,
  type DoraBand,
  deploymentFrequencyBand,
  doraBandsSource,
  leadTimeBand,
  timeToRestoreBand,
} from './bands.ts';

/** A history event, from the local store or `GetExecutionHistory`: type, timestamp, one `…EventDetails`. */
export type HistoryEventLike = CostHistoryEvent;

/** One execution as the metrics read it: its record and its whole history. */
export interface ExecutionWithHistory {
  name: string;
  status: string;
  startDate: Date | string;
  stopDate?: Date | string | undefined;
  history: readonly HistoryEventLike[];
}

/** What one execution did to production, read from its history. */
export interface ProductionDeployment {
  execution: string;
  /** `cluster/service`. */
  service: string;
  commit: string;
  /** The pushed head commit's time, when the push carried one. */
  commitTime?: Date;
  /** DeployProduction returned: the rollout started. */
  deployedAt: Date;
  /** `succeeded`: CheckProduction saw COMPLETED; `failed`: the check failed or the run ended mid-rollout. */
  outcome: 'succeeded' | 'failed' | 'in-progress';
  /** When it succeeded or failed. */
  endedAt?: Date;
  /** The error that failed it (`DeploymentFailedError`: ECS rolled back), or the run's ending. */
  error?: string;
  taskDefinitionArn?: string;
  previousTaskDefinitionArn?: string;
  previousCommit?: string;
  /**
   * Set on a succeeded deployment when the next production deployment of its service found another
   * revision running: production was rolled back (`stepline rollback`) or changed outside the pipeline.
   */
  rolledBack?: boolean;
}

function details(event: HistoryEventLike): Record<string, unknown> {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventDetails') && value && typeof value === 'object')
      return value as Record<string, unknown>;
  }
  return {};
}

function parseObject(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

function dateOf(value: unknown): Date | undefined {
  if (!(value instanceof Date) && typeof value !== 'string') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

const endings = new Set(['ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut']);

/**
 * The production deployments an execution made, oldest first: none when it stopped before
 * production, was rejected or was superseded (nothing rolled out); usually one; two when a run
 * stopped mid-rollout was redriven (`ExecutionRedriven`) and its rollout then ended (a failure,
 * then a deployment of the same commit). Reads DeployProduction's and CheckProduction's results
 * (`$.production`, a DeploymentState) from the history.
 */
export function productionDeploymentsOf(execution: ExecutionWithHistory): ProductionDeployment[] {
  let state = '';
  let push: Record<string, unknown> | undefined;
  const deployments: ProductionDeployment[] = [];
  let current: ProductionDeployment | undefined;
  for (const event of execution.history) {
    const type = String(event.type);
    const detail = details(event);
    const at = dateOf(event.timestamp) ?? new Date(0);
    if (type === 'ExecutionStarted') push = parseObject(detail.input);
    else if (type.endsWith('StateEntered')) state = String(detail.name ?? '');
    else if (
      type === 'ExecutionRedriven' &&
      current &&
      current.outcome === 'failed' &&
      endings.has(current.error ?? '')
    ) {
      // The rollout goes on where the run stopped: a new deployment of the same revision.
      const { endedAt: _endedAt, error: _error, ...rest } = current;
      current = { ...rest, deployedAt: at, outcome: 'in-progress' };
      deployments.push(current);
    } else if (type === 'LambdaFunctionSucceeded' && state === 'DeployProduction') {
      const result = parseObject(detail.output);
      if (!result || result.outcome === 'Superseded') continue;
      const commitTime = dateOf((push?.headCommit as Record<string, unknown> | undefined)?.timestamp);
      current = {
        execution: execution.name,
        service: `${str(result.cluster) ?? '?'}/${str(result.service) ?? '?'}`,
        commit: str(result.commit) ?? str(push?.after) ?? 'unknown',
        ...(commitTime ? { commitTime } : {}),
        deployedAt: dateOf(result.startedAt) ?? at,
        outcome: 'in-progress',
        ...optional('taskDefinitionArn', str(result.taskDefinitionArn)),
        ...optional('previousTaskDefinitionArn', str(result.previousTaskDefinitionArn)),
        ...optional('previousCommit', str(result.previousCommit)),
      };
      deployments.push(current);
    } else if (current?.outcome === 'in-progress' && state === 'CheckProduction') {
      if (type === 'LambdaFunctionSucceeded') {
        const result = parseObject(detail.output);
        if (result?.outcome === 'Superseded') {
          deployments.pop();
          current = undefined;
        } else if (result?.rolloutState === 'COMPLETED')
          Object.assign(current, { outcome: 'succeeded', endedAt: at });
        else if (result?.rolloutState === 'FAILED')
          Object.assign(current, { outcome: 'failed', endedAt: at, error: 'rolloutState FAILED' });
      } else if (type === 'LambdaFunctionFailed' || type === 'LambdaFunctionTimedOut') {
        const error = str(detail.error) ?? type;
        // Lambda.* service errors are retried; the run's end below catches the last one.
        if (!error.startsWith('Lambda.')) Object.assign(current, { outcome: 'failed', endedAt: at, error });
      }
    }
    if (current?.outcome === 'in-progress' && endings.has(type))
      Object.assign(current, { outcome: 'failed', endedAt: at, error: type });
  }
  return deployments;
}

/** The last production deployment an execution made (see `productionDeploymentsOf`). */
export function productionDeploymentOf(execution: ExecutionWithHistory): ProductionDeployment | undefined {
  return productionDeploymentsOf(execution).at(-1);
}

/** Median of sorted values (the mean of the two middle ones for an even count). */
function median(sorted: readonly number[]): number | undefined {
  if (sorted.length === 0) return undefined;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

export interface DoraMetrics {
  window: { since: string; now: string; days: number };
  bandsSource: string;
  deployments: { total: number; succeeded: number; failed: number; rolledBack: number; inProgress: number };
  /** Succeeded production deployments in the window. */
  deploymentFrequency: { count: number; perDay: number; perWeek: number; band?: DoraBand };
  /** Head commit time → production COMPLETED, over succeeded deployments in the window. */
  leadTime: { count: number; medianMs?: number; p90Ms?: number; band?: DoraBand };
  /** (failed + rolled back) / (succeeded + failed) production deployments in the window. */
  changeFailureRate: { failures: number; deployments: number; rate?: number; band?: DoraBand };
  /** Failed production deployment → the next succeeded one of the same service. */
  timeToRestore: { count: number; unrestored: number; medianMs?: number; band?: DoraBand };
  /** Every production deployment the histories show, oldest first, the window's and the rest. */
  all: ProductionDeployment[];
}

export interface DoraOptions {
  since: Date;
  now: Date;
}

/**
 * The four DORA figures over executions' histories (the local store's or AWS's), for production
 * deployments that ended in `[since, now]`, each with its band (see bands.ts). Rollbacks done outside
 * a run (`stepline rollback`) are seen from the next deployment of the service: it found another
 * revision running than the last one the pipeline rolled out.
 */
export function computeDoraMetrics(
  executions: readonly ExecutionWithHistory[],
  { since, now }: DoraOptions,
): DoraMetrics {
  const all = executions
    .flatMap(productionDeploymentsOf)
    .sort((a, b) => a.deployedAt.getTime() - b.deployedAt.getTime());
  markRollbacks(all);

  const inWindow = (d: ProductionDeployment) =>
    d.endedAt !== undefined && d.endedAt >= since && d.endedAt <= now;
  const ended = all.filter(inWindow);
  const succeeded = ended.filter((d) => d.outcome === 'succeeded');
  const failed = ended.filter((d) => d.outcome === 'failed');
  const rolledBack = succeeded.filter((d) => d.rolledBack);
  const days = Math.max(0, now.getTime() - since.getTime()) / 86_400_000;

  const perDay = days > 0 ? succeeded.length / days : 0;
  const leadTimes = succeeded
    .filter((d) => d.commitTime)
    .map((d) => Math.max(0, d.endedAt!.getTime() - d.commitTime!.getTime()))
    .sort((a, b) => a - b);
  const leadMedian = median(leadTimes);

  const deployments = succeeded.length + failed.length;
  const failures = failed.length + rolledBack.length;
  const rate = deployments > 0 ? failures / deployments : undefined;

  const restores: number[] = [];
  let unrestored = 0;
  for (const failure of failed) {
    const next = all.find(
      (d) => d.service === failure.service && d.outcome === 'succeeded' && d.endedAt! > failure.endedAt!,
    );
    if (next && next.endedAt! <= now) restores.push(next.endedAt!.getTime() - failure.endedAt!.getTime());
    else unrestored += 1;
  }
  restores.sort((a, b) => a - b);
  const restoreMedian = median(restores);
  const leadP90 = percentile(leadTimes, 90);

  return {
    window: { since: since.toISOString(), now: now.toISOString(), days },
    bandsSource: doraBandsSource,
    deployments: {
      total: ended.length + all.filter((d) => d.outcome === 'in-progress').length,
      succeeded: succeeded.length,
      failed: failed.length,
      rolledBack: rolledBack.length,
      inProgress: all.filter((d) => d.outcome === 'in-progress').length,
    },
    deploymentFrequency: {
      count: succeeded.length,
      perDay,
      perWeek: perDay * 7,
      ...(succeeded.length > 0 ? { band: deploymentFrequencyBand(perDay) } : {}),
    },
    leadTime: {
      count: leadTimes.length,
      ...(leadMedian !== undefined ? { medianMs: leadMedian, band: leadTimeBand(leadMedian) } : {}),
      ...(leadP90 !== undefined ? { p90Ms: leadP90 } : {}),
    },
    changeFailureRate: {
      failures,
      deployments,
      ...(rate !== undefined ? { rate, band: changeFailureRateBand(rate) } : {}),
    },
    timeToRestore: {
      count: restores.length,
      unrestored,
      ...(restoreMedian !== undefined
        ? { medianMs: restoreMedian, band: timeToRestoreBand(restoreMedian) }
        : {}),
    },
    all,
  };
}

/**
 * Marks a succeeded deployment as rolled back when the next deployment of its service (any outcome)
 * found another revision (or commit) running than the one it rolled out.
 */
function markRollbacks(sorted: ProductionDeployment[]): void {
  const lastSucceeded = new Map<string, ProductionDeployment>();
  for (const deployment of sorted) {
    const last = lastSucceeded.get(deployment.service);
    if (last) {
      const revisionChanged =
        deployment.previousTaskDefinitionArn !== undefined &&
        last.taskDefinitionArn !== undefined &&
        deployment.previousTaskDefinitionArn !== last.taskDefinitionArn;
      const commitChanged =
        deployment.previousTaskDefinitionArn === undefined &&
        deployment.previousCommit !== undefined &&
        deployment.previousCommit !== last.commit;
      if (revisionChanged || commitChanged) last.rolledBack = true;
    }
    if (deployment.outcome === 'succeeded') lastSucceeded.set(deployment.service, deployment);
  }
}
