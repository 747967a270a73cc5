/**
 * The one price table of Stepline's cost estimates: on-demand list prices in one region, with the
 * date they were read. Everything that prices a run (`estimateExecutionCost`, `stepline metrics`,
 * `stepline executions show`, the console) reads this object and prints its region and date next
 * to any figure, labelled as an estimate. To price another region or a newer price list, change
 * this file only (and its date).
 *
 * Sources (us-east-1, read on the date below):
 * - Step Functions, Standard workflows: $0.025 per 1,000 state transitions, "each retry will be
 *   charged as an additional state transition"; 4,000 free per month (not applied here).
 *   https://aws.amazon.com/step-functions/pricing/
 * - Lambda: requests $0.20 per 1M; duration per GB-second $0.0000166667 (x86) and $0.0000133334
 *   (Arm), first pricing tier; billed per 1 ms of the configured memory.
 *   https://aws.amazon.com/lambda/pricing/
 * - Fargate, Linux: per vCPU-hour $0.04048 (x86) / $0.03238 (ARM); per GB-hour $0.004445 (x86) /
 *   $0.00356 (ARM); ephemeral storage above the free 20 GB $0.000111 per GB-hour; billed per second
 *   with a one-minute minimum, from the image pull until the task stops.
 *   https://aws.amazon.com/fargate/pricing/ (figures as summarized in
 *   https://www.vantage.sh/blog/fargate-pricing and https://cloudburn.io/blog/aws-fargate-pricing)
 * - S3 Standard requests: PUT, COPY, POST, LIST $0.005 per 1,000; GET, SELECT and all other
 *   requests (HEAD included) $0.0004 per 1,000. https://aws.amazon.com/s3/pricing/
 *   (tiers as summarized in https://c3x.dev/blog/s3-request-fees-explained)
 *
 * Free tiers, Savings Plans, Spot and volume tiers are not applied: the figures are list prices of
 * the first tier, so they are an upper bound for a small team.
 */
export const priceTable = {
  region: 'us-east-1',
  /** The day the prices above were read from the pricing pages. */
  asOf: '2026-11-30',
  currency: 'USD',
  stepFunctions: {
    /** Standard workflows. */
    perStateTransition: 0.025 / 1000,
  },
  lambda: {
    perRequest: 0.2 / 1_000_000,
    perGbSecond: { arm64: 0.0000133334, x86_64: 0.0000166667 },
  },
  fargate: {
    perVcpuHour: { arm64: 0.03238, x86_64: 0.04048 },
    perGbHour: { arm64: 0.00356, x86_64: 0.004445 },
    /** Per GB-hour of ephemeral storage configured above `freeStorageGb`. */
    perStorageGbHour: 0.000111,
    freeStorageGb: 20,
    /** Fargate bills at least this much of each task. */
    minimumSeconds: 60,
  },
  s3: {
    perPutRequest: 0.005 / 1000,
    perGetRequest: 0.0004 / 1000,
  },
} as const;

export type PriceTable = typeof priceTable;
export type Architecture = 'arm64' | 'x86_64';

/** "estimate at us-east-1 list prices of 2026-11-30": the label every cost figure carries. */
export function estimateLabel(prices: PriceTable = priceTable): string {
  return `estimate at ${prices.region} list prices of ${prices.asOf}`;
}

/** `$0.0182`, `$1.24`, `$0.000031`: enough digits to tell runs apart, in dollars. */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  // Two significant digits for small amounts, never fewer than four decimals.
  const decimals = Math.min(8, Math.max(4, 1 - Math.floor(Math.log10(usd))));
  return `$${usd.toFixed(decimals)}`;
}
