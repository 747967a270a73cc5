import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHistory, readStoredExecution } from '#local/sfn/store.ts';
import {
  changeFailureRateBand,
  deploymentFrequencyBand,
  leadTimeBand,
  timeToRestoreBand,
} from '#shared/metrics/bands.ts';
import {
  computeDoraMetrics,
  type ExecutionWithHistory,
  productionDeploymentOf,
  productionDeploymentsOf,
} from '#shared/metrics/dora.ts';

const hour = 3_600_000;
const day = 24 * hour;
const t0 = Date.UTC(2026, 10, 1); // 2026-11-01
const d = (ms: number) => new Date(t0 + ms);
const window = { since: d(0), now: d(30 * day) };

interface RunSpec {
  name: string;
  commitAt: number;
  deployAt: number;
  /** How the production check ended, and when. */
  check?: { at: number; result: 'COMPLETED' | 'Superseded' | 'DeploymentFailedError' | 'aborted' };
  revision?: number;
  previousRevision?: number;
  service?: string;
}

/** A history with what the metrics read: the push, DeployProduction's and CheckProduction's results. */
function run(spec: RunSpec): ExecutionWithHistory {
  const service = spec.service ?? 'production';
  const revision = `arn:aws:ecs:us-east-1:1:task-definition/${service}:${spec.revision ?? 2}`;
  const previous = `arn:aws:ecs:us-east-1:1:task-definition/${service}:${spec.previousRevision ?? (spec.revision ?? 2) - 1}`;
  const state = (rolloutState: string, outcome: string) =>
    JSON.stringify({
      environment: 'production',
      outcome,
      cluster: 'main',
      service,
      commit: `${spec.name}-commit`,
      taskDefinitionArn: revision,
      previousTaskDefinitionArn: previous,
      rolloutState,
      startedAt: d(spec.deployAt).toISOString(),
    });
  const history: Record<string, unknown>[] = [
    {
      type: 'ExecutionStarted',
      timestamp: d(spec.deployAt - hour),
      executionStartedEventDetails: {
        input: JSON.stringify({
          after: `${spec.name}-commit`,
          headCommit: { timestamp: d(spec.commitAt).toISOString() },
        }),
      },
    },
    {
      type: 'TaskStateEntered',
      timestamp: d(spec.deployAt),
      stateEnteredEventDetails: { name: 'DeployProduction' },
    },
    {
      type: 'LambdaFunctionSucceeded',
      timestamp: d(spec.deployAt),
      lambdaFunctionSucceededEventDetails: { output: state('IN_PROGRESS', 'Deploying') },
    },
  ];
  let status = 'RUNNING';
  if (spec.check) {
    const at = d(spec.check.at);
    history.push({
      type: 'TaskStateEntered',
      timestamp: at,
      stateEnteredEventDetails: { name: 'CheckProduction' },
    });
    if (spec.check.result === 'COMPLETED' || spec.check.result === 'Superseded') {
      history.push({
        type: 'LambdaFunctionSucceeded',
        timestamp: at,
        lambdaFunctionSucceededEventDetails: {
          output:
            spec.check.result === 'COMPLETED'
              ? state('COMPLETED', 'Completed')
              : state('IN_PROGRESS', 'Superseded'),
        },
      });
      history.push({ type: 'ExecutionSucceeded', timestamp: at });
      status = 'SUCCEEDED';
    } else if (spec.check.result === 'DeploymentFailedError') {
      history.push({
        type: 'LambdaFunctionFailed',
        timestamp: at,
        lambdaFunctionFailedEventDetails: { error: 'DeploymentFailedError', cause: 'rolled back' },
      });
      history.push({ type: 'ExecutionFailed', timestamp: at });
      status = 'FAILED';
    } else {
      history.push({ type: 'ExecutionAborted', timestamp: at });
      status = 'ABORTED';
    }
  }
  return { name: spec.name, status, startDate: d(spec.deployAt - hour), history };
}

describe('productionDeploymentOf', () => {
  it('reads the recorded hello-service run as one succeeded production deployment', () => {
    const dir = join(import.meta.dirname, '../../../fixtures/hello-service-run');
    const name = 'github-bdbd6b01-3bc0-4fac-8a01-9be10cc033ee';
    const record = readStoredExecution(dir, name)!;

    const deployment = productionDeploymentOf({ ...record, history: readHistory(dir, name) });

    expect(deployment).toMatchObject({
      service: 'stepline-local/production',
      commit: 'c4bde96ed0cd475c66f88033e5837913a6b5bd21',
      outcome: 'succeeded',
      commitTime: new Date('2026-11-30T07:29:17Z'),
      endedAt: new Date('2026-11-30T07:29:25.026Z'),
    });
  });

  it('sees no deployment in a run superseded during its production rollout', () => {
    const superseded = run({
      name: 'a',
      commitAt: 0,
      deployAt: hour,
      check: { at: 2 * hour, result: 'Superseded' },
    });

    expect(productionDeploymentOf(superseded)).toBeUndefined();
  });

  it('counts a run stopped during its production rollout as a failed deployment', () => {
    const aborted = run({
      name: 'a',
      commitAt: 0,
      deployAt: hour,
      check: { at: 2 * hour, result: 'aborted' },
    });

    expect(productionDeploymentOf(aborted)).toMatchObject({ outcome: 'failed', error: 'ExecutionAborted' });
  });
});

describe('productionDeploymentsOf', () => {
  it('sees a run stopped mid-rollout and redriven as a failed deployment, then a succeeded one', () => {
    const aborted = run({
      name: 'a',
      commitAt: 0,
      deployAt: hour,
      check: { at: 2 * hour, result: 'aborted' },
    });
    const history = [
      ...aborted.history,
      { type: 'ExecutionRedriven', timestamp: d(3 * hour) },
      {
        type: 'TaskStateEntered',
        timestamp: d(3 * hour),
        stateEnteredEventDetails: { name: 'CheckProduction' },
      },
      {
        type: 'LambdaFunctionSucceeded',
        timestamp: d(4 * hour),
        lambdaFunctionSucceededEventDetails: {
          output: JSON.stringify({
            outcome: 'Completed',
            cluster: 'main',
            service: 'production',
            rolloutState: 'COMPLETED',
          }),
        },
      },
    ];

    const deployments = productionDeploymentsOf({ ...aborted, history });

    expect(deployments.map((x) => [x.outcome, x.deployedAt, x.endedAt])).toEqual([
      ['failed', d(hour), d(2 * hour)],
      ['succeeded', d(3 * hour), d(4 * hour)],
    ]);
  });
});

describe('computeDoraMetrics', () => {
  it('reports no figures and no bands when nothing was deployed', () => {
    const metrics = computeDoraMetrics([], window);

    expect(metrics.deployments.total).toBe(0);
    expect(metrics.deploymentFrequency).toEqual({ count: 0, perDay: 0, perWeek: 0 });
    expect(metrics.leadTime).toEqual({ count: 0 });
    expect(metrics.changeFailureRate).toEqual({ failures: 0, deployments: 0 });
    expect(metrics.timeToRestore).toEqual({ count: 0, unrestored: 0 });
  });

  it('computes every figure of a single successful deployment', () => {
    const one = run({
      name: 'a',
      commitAt: day,
      deployAt: day + 2 * hour,
      check: { at: day + 3 * hour, result: 'COMPLETED' },
    });

    const metrics = computeDoraMetrics([one], window);

    expect(metrics.deploymentFrequency.count).toBe(1);
    expect(metrics.deploymentFrequency.perDay).toBeCloseTo(1 / 30, 12);
    expect(metrics.deploymentFrequency.perWeek).toBeCloseTo(7 / 30, 12);
    expect(metrics.deploymentFrequency.band).toBe('medium');
    expect(metrics.leadTime).toEqual({ count: 1, medianMs: 3 * hour, p90Ms: 3 * hour, band: 'elite' });
    expect(metrics.changeFailureRate).toEqual({ failures: 0, deployments: 1, rate: 0, band: 'elite' });
    expect(metrics.timeToRestore).toEqual({ count: 0, unrestored: 0 });
  });

  it('counts a failed check as a change failure and restores it at the next successful deployment', () => {
    const runs = [
      run({
        name: 'a',
        commitAt: 1 * day,
        deployAt: 1 * day + hour,
        check: { at: 1 * day + 2 * hour, result: 'COMPLETED' },
        revision: 2,
      }),
      run({
        name: 'b',
        commitAt: 2 * day,
        deployAt: 2 * day + hour,
        check: { at: 2 * day + 2 * hour, result: 'DeploymentFailedError' },
        revision: 3,
        previousRevision: 2,
      }),
      run({
        name: 'c',
        commitAt: 2 * day + 3 * hour,
        deployAt: 2 * day + 4 * hour,
        check: { at: 2 * day + 5 * hour, result: 'COMPLETED' },
        revision: 4,
        previousRevision: 2,
      }),
      run({
        name: 'd',
        commitAt: 3 * day,
        deployAt: 3 * day + hour,
        check: { at: 3 * day + 11 * hour, result: 'COMPLETED' },
        revision: 5,
        previousRevision: 4,
      }),
    ];

    const metrics = computeDoraMetrics(runs, window);

    expect(metrics.deployments).toMatchObject({ succeeded: 3, failed: 1, rolledBack: 0 });
    expect(metrics.changeFailureRate).toEqual({ failures: 1, deployments: 4, rate: 0.25, band: 'low' });
    // Failed at day 2 + 2 h, restored by c at day 2 + 5 h.
    expect(metrics.timeToRestore).toEqual({ count: 1, unrestored: 0, medianMs: 3 * hour, band: 'high' });
    // Lead times 2 h, 2 h, 11 h: median 2 h, p90 (nearest rank, 3rd of 3) 11 h.
    expect(metrics.leadTime).toEqual({ count: 3, medianMs: 2 * hour, p90Ms: 11 * hour, band: 'elite' });
  });

  it('counts a deployment rolled back outside the pipeline as a change failure', () => {
    // a rolls out revision 2; `stepline rollback` puts revision 1 back; b then finds revision 1 running.
    const runs = [
      run({
        name: 'a',
        commitAt: day,
        deployAt: day + hour,
        check: { at: day + 2 * hour, result: 'COMPLETED' },
        revision: 2,
        previousRevision: 1,
      }),
      run({
        name: 'b',
        commitAt: 2 * day,
        deployAt: 2 * day + hour,
        check: { at: 2 * day + 2 * hour, result: 'COMPLETED' },
        revision: 3,
        previousRevision: 1,
      }),
    ];

    const metrics = computeDoraMetrics(runs, window);

    expect(metrics.all.map((deployment) => [deployment.execution, deployment.rolledBack ?? false])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(metrics.changeFailureRate).toMatchObject({ failures: 1, deployments: 2, rate: 0.5 });
  });

  it('leaves a failure without a later successful deployment unrestored', () => {
    const failed = run({
      name: 'a',
      commitAt: day,
      deployAt: day + hour,
      check: { at: day + 2 * hour, result: 'DeploymentFailedError' },
    });

    const metrics = computeDoraMetrics([failed], window);

    expect(metrics.timeToRestore).toEqual({ count: 0, unrestored: 1 });
    expect(metrics.deploymentFrequency.count).toBe(0);
  });

  it('counts only deployments that ended inside the window, and not one still rolling out', () => {
    const runs = [
      run({
        name: 'before',
        commitAt: -3 * day,
        deployAt: -2 * day,
        check: { at: -2 * day + hour, result: 'COMPLETED' },
      }),
      run({
        name: 'inside',
        commitAt: 5 * day,
        deployAt: 5 * day + hour,
        check: { at: 5 * day + 2 * hour, result: 'COMPLETED' },
        revision: 3,
        previousRevision: 2,
      }),
      run({ name: 'rolling', commitAt: 6 * day, deployAt: 6 * day + hour, revision: 4, previousRevision: 3 }),
    ];

    const metrics = computeDoraMetrics(runs, window);

    expect(metrics.deploymentFrequency.count).toBe(1);
    expect(metrics.deployments).toMatchObject({ succeeded: 1, inProgress: 1 });
  });
});

describe('DORA bands (2024 report)', () => {
  it('puts deployment frequency in the cluster it matches', () => {
    expect(deploymentFrequencyBand(3)).toBe('elite');
    expect(deploymentFrequencyBand(1)).toBe('high');
    expect(deploymentFrequencyBand(1 / 7)).toBe('high');
    expect(deploymentFrequencyBand(1 / 8)).toBe('medium');
    expect(deploymentFrequencyBand(1 / 60)).toBe('low');
  });

  it('puts lead time, failure rate and restore time in the best cluster they match', () => {
    expect(leadTimeBand(23 * hour)).toBe('elite');
    expect(leadTimeBand(3 * day)).toBe('high');
    expect(leadTimeBand(10 * day)).toBe('medium');
    expect(leadTimeBand(90 * day)).toBe('low');
    expect(changeFailureRateBand(0.05)).toBe('elite');
    expect(changeFailureRateBand(0.08)).toBe('high'); // high (20%) beats medium (10%) in 2024
    expect(changeFailureRateBand(0.3)).toBe('low');
    expect(timeToRestoreBand(30 * 60_000)).toBe('elite');
    expect(timeToRestoreBand(5 * hour)).toBe('high');
    expect(timeToRestoreBand(3 * day)).toBe('low');
  });
});
