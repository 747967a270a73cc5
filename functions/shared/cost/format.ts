import type { ExecutionCost } from './estimate.ts';
import { formatUsd } from './prices.ts';

const round = (n: number, digits: number) => Number(n.toFixed(digits)).toString();

/**
 * One line for a terminal or a page: `$0.0034 (estimate at us-east-1 list prices of 2026-11-30):
 * 23 state transitions, Lambda 9 requests 0.12 GB-s, Fargate 240 vCPU-s 480 GB-s, S3 9 PUT 13 GET`.
 */
export function describeCost(cost: ExecutionCost): string {
  const parts = [
    `${cost.stateTransitions.count} state transitions`,
    `Lambda ${cost.lambda.requests} requests ${round(cost.lambda.gbSeconds, 2)} GB-s`,
    `Fargate ${round(cost.fargate.vcpuSeconds, 0)} vCPU-s ${round(cost.fargate.gbSeconds, 0)} GB-s`,
    `S3 ${cost.s3.putRequests} PUT ${cost.s3.getRequests} GET`,
  ];
  return `${formatUsd(cost.totalUsd)} (${cost.label}): ${parts.join(', ')}`;
}
