import { type CostHistoryEvent, type CostOptions, estimateExecutionCost } from './estimate.ts';
import { estimateLabel, priceTable } from './prices.ts';

export interface CostSummary {
  estimate: true;
  label: string;
  region: string;
  pricesAsOf: string;
  currency: 'USD';
  /** Executions started in the window. */
  runs: number;
  windowUsd: number;
  /** The window's total scaled to 30 days (the total itself for a 30-day window). */
  perMonthUsd: number;
  /** Average per run; 0 without runs. */
  perRunUsd: number;
}

/**
 * The cost of the executions started in `[since, now]`: the total, the total per 30 days at the
 * window's rate, and the average run, each an estimate (see `estimateExecutionCost`).
 */
export function summarizeCost(
  executions: readonly { startDate: Date | string; history: readonly CostHistoryEvent[] }[],
  { since, now, ...options }: { since: Date; now: Date } & CostOptions,
): CostSummary {
  const prices = options.prices ?? priceTable;
  const inWindow = executions.filter((execution) => {
    const start = new Date(execution.startDate).getTime();
    return start >= since.getTime() && start <= now.getTime();
  });
  const windowUsd = inWindow.reduce(
    (sum, execution) => sum + estimateExecutionCost(execution.history, options).totalUsd,
    0,
  );
  const days = Math.max(0, now.getTime() - since.getTime()) / 86_400_000;
  return {
    estimate: true,
    label: estimateLabel(prices),
    region: prices.region,
    pricesAsOf: prices.asOf,
    currency: 'USD',
    runs: inWindow.length,
    windowUsd,
    perMonthUsd: days > 0 ? (windowUsd / days) * 30 : 0,
    perRunUsd: inWindow.length > 0 ? windowUsd / inWindow.length : 0,
  };
}
