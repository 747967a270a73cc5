import type { LocalHistoryEvent, StoredExecution } from '#local/sfn/store.ts';
import { estimateExecutionCost } from '#shared/cost/estimate.ts';
import { formatUsd } from '#shared/cost/prices.ts';
import type { CostEstimate } from './api-types.ts';

/** A run's cost as `stepline executions show` gives it (#shared/cost), for the console's rows and page. */
export function estimatedCost(_record: StoredExecution, history: readonly LocalHistoryEvent[]): CostEstimate {
  const cost = estimateExecutionCost(history);
  const part = (name: string, usd: number) => ({ name, usd, formatted: formatUsd(usd) });
  return {
    total: cost.totalUsd,
    formatted: formatUsd(cost.totalUsd),
    label: cost.label,
    parts: [
      part(`${cost.stateTransitions.count} state transitions`, cost.stateTransitions.usd),
      part(
        `Lambda: ${cost.lambda.requests} requests, ${cost.lambda.gbSeconds.toFixed(1)} GB-s`,
        cost.lambda.usd,
      ),
      part(
        `Fargate: ${cost.fargate.vcpuSeconds.toFixed(0)} vCPU-s, ${cost.fargate.gbSeconds.toFixed(0)} GB-s`,
        cost.fargate.usd,
      ),
      part(`S3: ${cost.s3.putRequests} PUT, ${cost.s3.getRequests} GET (estimated)`, cost.s3.usd),
    ],
  };
}
