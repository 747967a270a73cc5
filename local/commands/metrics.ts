import {
  type ExecutionListItem,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { UsageError } from '#local/config.ts';
import { listStoredExecutions, readHistory } from '#local/sfn/store.ts';
import { formatUsd } from '#shared/cost/prices.ts';
import { type CostSummary, summarizeCost } from '#shared/cost/summary.ts';
import type { DoraBand } from '#shared/metrics/bands.ts';
import { computeDoraMetrics, type DoraMetrics, type ExecutionWithHistory } from '#shared/metrics/dora.ts';
import { printable } from './terminal.ts';

/** The state machine's own `TimeoutSeconds` (8 days): a run started this long before `--since` may still end inside it. */
const longestRunMs = 691_200_000;

export interface MetricsCommandOptions {
  dataDir: string;
  /** `30d`, `12h`, `2w` or an ISO date. @default 30d */
  since?: string;
  json: boolean;
  /** Read the deployed state machine's executions through the Step Functions API instead of the data directory. */
  aws: boolean;
  stateMachineArn?: string;
  region?: string;
  write: (line: string) => void;
  /** For tests: the clock, and a client (e.g. for the local Step Functions endpoint). */
  now?: Date;
  sfn?: Pick<SFNClient, 'send'>;
  /** For tests: page size of ListExecutions and GetExecutionHistory. @default 100 and 1000 */
  pageSize?: number;
  /** Histories read at once from the API. @default 4 */
  concurrency?: number;
}

/** `30d` → 30 days before `now`; `12h`, `2w`; or an ISO date. */
export function parseSince(value: string, now: Date): Date {
  const relative = /^(\d+)([hdw])$/.exec(value.trim());
  if (relative) {
    const unit = { h: 3_600_000, d: 86_400_000, w: 604_800_000 }[relative[2] as 'h' | 'd' | 'w'];
    return new Date(now.getTime() - Number(relative[1]) * unit);
  }
  const date = new Date(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(date.getTime()) && date < now) return date;
  throw new UsageError(
    `--since: expected a period such as 30d, 12h or 2w, or a past ISO date, got ${JSON.stringify(value)}`,
  );
}

/**
 * `stepline metrics [--since 30d] [--json] [--aws --state-machine-arn ARN [--region R]]`: the four
 * DORA figures with their band and the cost of the runs, from the data directory's execution store
 * (read-only; whether `serve` runs or not) or from the Step Functions API.
 */
export async function metricsCommand(options: MetricsCommandOptions): Promise<number> {
  const now = options.now ?? new Date();
  const since = parseSince(options.since ?? '30d', now);
  const executions = options.aws
    ? await readFromAws(options, new Date(since.getTime() - longestRunMs))
    : readFromStore(options.dataDir);
  const dora = computeDoraMetrics(executions, { since, now });
  const cost = summarizeCost(executions, { since, now });
  if (options.json) {
    const { all, ...figures } = dora;
    options.write(
      JSON.stringify(
        {
          source: options.aws ? { stateMachineArn: options.stateMachineArn } : { dataDir: options.dataDir },
          executions: executions.length,
          dora: { ...figures, deployments: { ...figures.deployments, list: all } },
          cost,
        },
        null,
        2,
      ),
    );
    return 0;
  }
  for (const line of formatMetrics(dora, cost, options.aws ? options.stateMachineArn! : options.dataDir))
    options.write(printable(line));
  return 0;
}

function readFromStore(dataDir: string): ExecutionWithHistory[] {
  return listStoredExecutions(dataDir).map((record) => ({
    name: record.name,
    status: record.status,
    startDate: record.startDate,
    stopDate: record.stopDate,
    history: readHistory(dataDir, record.name),
  }));
}

async function readFromAws(
  options: MetricsCommandOptions,
  startedAfter: Date,
): Promise<ExecutionWithHistory[]> {
  const arn = options.stateMachineArn;
  if (!arn) throw new UsageError('--aws needs --state-machine-arn ARN (the stack prints it as an output)');
  const client =
    options.sfn ??
    // Adaptive retries back off on ThrottlingException: ListExecutions and GetExecutionHistory
    // share small per-account token buckets.
    new SFNClient({
      ...(options.region ? { region: options.region } : {}),
      retryMode: 'adaptive',
      maxAttempts: 10,
    });
  try {
    const listed = await listExecutions(client, arn, startedAfter, options.pageSize ?? 100).catch(
      (error: Error) => {
        // No region or no credentials configured: a usage problem, said in one line.
        if (error.name === 'CredentialsProviderError' || /region is missing/i.test(error.message))
          throw new UsageError(`--aws: ${error.message} (set AWS_REGION or --region, and AWS credentials)`);
        throw error;
      },
    );
    return await mapBounded(listed, options.concurrency ?? 4, async (item) => ({
      name: item.name ?? '',
      status: item.status ?? 'RUNNING',
      startDate: item.startDate ?? new Date(0),
      stopDate: item.stopDate,
      history: await executionHistory(client, item.executionArn!, options.pageSize ?? 1000),
    }));
  } finally {
    if (!options.sfn) (client as SFNClient).destroy();
  }
}

/** ListExecutions, newest first, until the executions are older than `startedAfter`. */
async function listExecutions(
  client: Pick<SFNClient, 'send'>,
  stateMachineArn: string,
  startedAfter: Date,
  pageSize: number,
): Promise<ExecutionListItem[]> {
  const items: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListExecutionsCommand({ stateMachineArn, maxResults: pageSize, nextToken }),
    );
    for (const item of page.executions ?? []) {
      if (item.startDate && item.startDate < startedAfter) return items;
      items.push(item);
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return items;
}

async function executionHistory(
  client: Pick<SFNClient, 'send'>,
  executionArn: string,
  pageSize: number,
): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new GetExecutionHistoryCommand({
        executionArn,
        maxResults: pageSize,
        nextToken,
        includeExecutionData: true,
      }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** `45 s`, `3 h 20 min`, `2 d 4 h`. */
export function formatSpan(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
  const days = Math.floor(hours / 24);
  return `${days} d${hours % 24 ? ` ${hours % 24} h` : ''}`;
}

const band = (value: DoraBand | undefined) => (value ? value.toUpperCase() : '-');
const perPeriod = (n: number) => (n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2));

/** The lines `stepline metrics` prints. */
export function formatMetrics(dora: DoraMetrics, cost: CostSummary, source: string): string[] {
  const days = Math.round(dora.window.days * 10) / 10;
  const { deploymentFrequency: df, leadTime: lt, changeFailureRate: cfr, timeToRestore: ttr } = dora;
  const row = (label: string, value: string, b: DoraBand | undefined) =>
    `  ${label.padEnd(24)}${value.padEnd(46)}${band(b)}`;
  const lines = [
    `DORA metrics for ${source}, last ${days} days (${dora.window.since.slice(0, 10)} to ${dora.window.now.slice(0, 10)})`,
    `  production deployments: ${dora.deployments.succeeded} succeeded, ${dora.deployments.failed} failed, ${dora.deployments.rolledBack} rolled back later, ${dora.deployments.inProgress} rolling out`,
    '',
    row(
      'deployment frequency',
      df.count > 0
        ? `${perPeriod(df.perDay)} per day, ${perPeriod(df.perWeek)} per week (${df.count})`
        : 'no production deployment',
      df.band,
    ),
    row(
      'lead time for changes',
      lt.medianMs !== undefined
        ? `median ${formatSpan(lt.medianMs)}, p90 ${formatSpan(lt.p90Ms ?? lt.medianMs)} (${lt.count})`
        : 'no change reached production',
      lt.band,
    ),
    row(
      'change failure rate',
      cfr.rate !== undefined
        ? `${(cfr.rate * 100).toFixed(0)}% (${cfr.failures} of ${cfr.deployments})`
        : 'no production deployment',
      cfr.band,
    ),
    row(
      'time to restore',
      ttr.medianMs !== undefined
        ? `median ${formatSpan(ttr.medianMs)} (${ttr.count}${ttr.unrestored ? `; ${ttr.unrestored} not restored yet` : ''})`
        : ttr.unrestored
          ? `${ttr.unrestored} failure(s) not restored yet`
          : 'no failed deployment',
      ttr.band,
    ),
    `  bands: ${dora.bandsSource} (elite, high, medium, low; see docs/metrics.md)`,
    '',
    `Cost (${cost.label}): ${cost.runs} run${cost.runs === 1 ? '' : 's'} started in the window`,
    `  per month  ${formatUsd(cost.perMonthUsd)}${days === 30 ? '' : ` (${formatUsd(cost.windowUsd)} over ${days} days)`}`,
    `  per run    ${formatUsd(cost.perRunUsd)} on average`,
  ];
  return lines;
}
