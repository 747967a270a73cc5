import { type ComputeSizes, defaultComputeSizes, lambdaFolderOf } from './compute-sizes.ts';
import { estimateLabel, type PriceTable, priceTable } from './prices.ts';

/**
 * A history event as the SDK's `GetExecutionHistory` returns it (AWS) or the local store keeps it:
 * its type, timestamp and one `…EventDetails` object, read by name.
 */
export interface CostHistoryEvent {
  type?: string | undefined;
  timestamp?: Date | string | undefined;
}

export interface LambdaUsage {
  /** Function folder (`deploy`, `check-deployment`, …), or the function's name when unknown. */
  function: string;
  invocations: number;
  /** Summed duration of the invocations, as the history times them. */
  durationMs: number;
  memoryMb: number;
  gbSeconds: number;
}

export interface FargateUsage {
  /** The state that ran the task (`Build`, `Test`, `PublishImage`). */
  state: string;
  taskDefinition: string;
  cpu: number;
  memoryMiB: number;
  ephemeralStorageGiB: number;
  /** RunTask → task token returned, as the history times it. */
  durationMs: number;
  /** What Fargate bills: whole seconds, at least one minute. */
  billedSeconds: number;
  vcpuSeconds: number;
  gbSeconds: number;
  usd: number;
}

/** A run's cost, itemised; every figure is an estimate at `prices.region` list prices of `prices.asOf`. */
export interface ExecutionCost {
  estimate: true;
  /** "estimate at us-east-1 list prices of 2026-11-30". */
  label: string;
  region: string;
  pricesAsOf: string;
  currency: 'USD';
  totalUsd: number;
  stateTransitions: { count: number; retries: number; usd: number };
  lambda: { requests: number; gbSeconds: number; usd: number; functions: LambdaUsage[] };
  fargate: { vcpuSeconds: number; gbSeconds: number; usd: number; tasks: FargateUsage[] };
  /** Estimated from what each stage does and records (see docs/metrics.md), not counted by S3. */
  s3: { putRequests: number; getRequests: number; usd: number; basis: 'per-stage estimate' };
}

export interface CostOptions {
  compute?: ComputeSizes;
  prices?: PriceTable;
}

interface OpenTask {
  state: string;
  kind: 'ecs' | 'lambda' | 'other';
  waitForToken: boolean;
  resource: string;
  startedAt: number;
  /** When the Lambda behind `lambda:invoke.waitForTaskToken` returned. */
  invokedAt?: number;
  cpu?: number;
  memoryMiB?: number;
}

const runnerLogFlushMs = 5000;

function details(event: CostHistoryEvent): Record<string, unknown> {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventDetails') && value && typeof value === 'object')
      return value as Record<string, unknown>;
  }
  return {};
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

const time = (event: CostHistoryEvent) => new Date(event.timestamp ?? 0).getTime();

/**
 * Estimates what one execution cost on AWS from its history alone (works on a running one too):
 *
 * - **State transitions** as Step Functions bills them: one per state entered, plus one per retry
 *   (each further `LambdaFunctionScheduled`/`TaskScheduled` within the same state visit).
 * - **Lambda**: one request per invocation; duration × the function's configured memory, the
 *   duration timed from `LambdaFunctionStarted` to its end (`lambda:invoke.waitForTaskToken`: from
 *   `TaskStarted` to `TaskSubmitted`, when the function returned; the wait for the token is free).
 * - **Fargate**: each `ecs:runTask` task from `TaskSubmitted` (RunTask returned) to its end, whole
 *   seconds, one minute at least, × the task's vCPU, memory and ephemeral storage above 20 GB
 *   (the RunTask response's `cpu`/`memory`, else the catalog's size for the runner or publisher).
 * - **S3 requests**: a per-stage estimate from what the stages record (see docs/metrics.md).
 *
 * Not included: the webhook and approval-page Lambdas (not in the history), ECR, SES, logs,
 * public IPv4, data transfer, free tiers.
 */
export function estimateExecutionCost(
  history: readonly CostHistoryEvent[],
  options: CostOptions = {},
): ExecutionCost {
  const compute = options.compute ?? defaultComputeSizes;
  const prices = options.prices ?? priceTable;
  const arch = compute.architecture;
  let transitions = 0;
  let retries = 0;
  let state = '';
  let attemptsInVisit = 0;
  let lambdaStart: { resource: string; at: number } | undefined;
  let open: OpenTask | undefined;
  let buildArtifacts = false;
  let put = 0;
  let get = 0;
  const lambdas = new Map<string, LambdaUsage>();
  const tasks: FargateUsage[] = [];

  const lambdaUsage = (resource: string): LambdaUsage => {
    const folder = lambdaFolderOf(resource, Object.keys(compute.lambdaMemoryMb));
    const name = folder ?? resource.split(':').at(-1) ?? resource;
    let usage = lambdas.get(name);
    if (!usage) {
      const memoryMb = (folder && compute.lambdaMemoryMb[folder]) || compute.defaultLambdaMemoryMb;
      usage = { function: name, invocations: 0, durationMs: 0, memoryMb, gbSeconds: 0 };
      lambdas.set(name, usage);
    }
    return usage;
  };
  const addLambdaDuration = (resource: string, ms: number) => {
    const usage = lambdaUsage(resource);
    usage.durationMs += Math.max(0, ms);
    usage.gbSeconds = (usage.memoryMb / 1024) * (usage.durationMs / 1000);
  };
  const attempt = () => {
    attemptsInVisit += 1;
    if (attemptsInVisit > 1) {
      transitions += 1;
      retries += 1;
    }
  };
  const closeTask = (task: OpenTask, endAt: number, output: unknown) => {
    if (task.kind === 'lambda') {
      addLambdaDuration(task.resource, (task.invokedAt ?? endAt) - task.startedAt);
      if (task.waitForToken && lambdaFolderOf(task.resource) === 'request-approval') {
        put += 1; // the approval record
        if (task.invokedAt !== undefined && field(output, 'decision') !== undefined) {
          get += 2; // the approval page and the decision read the record
          put += 1; // the decision is written to it
        }
      }
      return;
    }
    if (task.kind !== 'ecs') return;
    const role = /publish/i.test(task.resource) ? 'publisher' : 'runner';
    const size = compute.tasks[role];
    const cpu = task.cpu ?? size.cpu;
    const memoryMiB = task.memoryMiB ?? size.memoryMiB;
    const durationMs = Math.max(0, endAt - task.startedAt);
    const billedSeconds = Math.max(prices.fargate.minimumSeconds, Math.ceil(durationMs / 1000));
    const vcpuSeconds = (cpu / 1024) * billedSeconds;
    const gbSeconds = (memoryMiB / 1024) * billedSeconds;
    const extraStorageGb = Math.max(0, size.ephemeralStorageGiB - prices.fargate.freeStorageGb);
    const usd =
      (vcpuSeconds / 3600) * prices.fargate.perVcpuHour[arch] +
      (gbSeconds / 3600) * prices.fargate.perGbHour[arch] +
      ((extraStorageGb * billedSeconds) / 3600) * prices.fargate.perStorageGbHour;
    tasks.push({
      state: task.state,
      taskDefinition: task.resource,
      cpu,
      memoryMiB,
      ephemeralStorageGiB: size.ephemeralStorageGiB,
      durationMs,
      billedSeconds,
      vcpuSeconds,
      gbSeconds,
      usd,
    });
    // Every runner stage reads the source archive and stepline.yml and writes its log (rewritten
    // every 5 s while output comes: counted as an upper bound).
    get += 2;
    put += 1 + Math.floor(durationMs / runnerLogFlushMs);
    if (field(output, 'stage') === 'build') {
      const cache = field(output, 'cache');
      if (cache) {
        get += field(cache, 'restored') === true ? 1 : 2; // own scope, then the default branch's
        if (field(cache, 'saved') === true) {
          get += 1; // HEAD: saved by another run already?
          put += 1;
        }
      }
      if (field(output, 'artifacts', 'key') !== undefined) {
        buildArtifacts = true;
        put += 1;
      }
    } else if (buildArtifacts) {
      get += 1; // Test and PublishImage unpack the build's artifacts
    }
  };

  let lastAt = 0;
  for (const event of history) {
    const type = String(event.type);
    const at = time(event);
    lastAt = Math.max(lastAt, at);
    const detail = details(event);
    if (type.endsWith('StateEntered')) {
      transitions += 1;
      state = String(detail.name ?? '');
      attemptsInVisit = 0;
      continue;
    }
    switch (type) {
      case 'LambdaFunctionScheduled': {
        attempt();
        const resource = String(detail.resource ?? '');
        lambdaUsage(resource).invocations += 1;
        lambdaStart = { resource, at };
        break;
      }
      case 'LambdaFunctionStarted':
        if (lambdaStart) lambdaStart.at = at;
        break;
      case 'LambdaFunctionSucceeded':
      case 'LambdaFunctionFailed':
      case 'LambdaFunctionTimedOut':
        if (lambdaStart) {
          addLambdaDuration(lambdaStart.resource, at - lambdaStart.at);
          if (type === 'LambdaFunctionSucceeded' && lambdaFolderOf(lambdaStart.resource) === 'fetch-source')
            put += 2; // the source archive and stepline.yml
        }
        lambdaStart = undefined;
        break;
      case 'LambdaFunctionScheduleFailed':
      case 'LambdaFunctionStartFailed':
        lambdaStart = undefined;
        break;
      case 'TaskScheduled': {
        attempt();
        const resourceType = String(detail.resourceType ?? '');
        const resource = String(detail.resource ?? '');
        const parameters = parseJson(detail.parameters);
        const kind =
          resourceType === 'ecs' && resource.startsWith('runTask')
            ? 'ecs'
            : resourceType === 'lambda'
              ? 'lambda'
              : 'other';
        const target = String(
          kind === 'ecs'
            ? (field(parameters, 'TaskDefinition') ?? '')
            : kind === 'lambda'
              ? (field(parameters, 'FunctionName') ?? '')
              : resource,
        );
        if (kind === 'lambda') lambdaUsage(target).invocations += 1;
        open = {
          state,
          kind,
          waitForToken: resource.endsWith('.waitForTaskToken'),
          resource: target,
          startedAt: at,
        };
        break;
      }
      case 'TaskStarted':
        if (open?.kind === 'lambda') open.startedAt = at;
        break;
      case 'TaskSubmitted':
        if (open?.kind === 'ecs') {
          open.startedAt = at;
          // Step Functions capitalizes an optimized integration's response (`Tasks[0].Cpu`) on AWS.
          const response = parseJson(detail.output);
          const launched = field(response, 'tasks', '0') ?? field(response, 'Tasks', '0');
          const cpu = Number(field(launched, 'cpu') ?? field(launched, 'Cpu'));
          const memory = Number(field(launched, 'memory') ?? field(launched, 'Memory'));
          if (cpu > 0) open.cpu = cpu;
          if (memory > 0) open.memoryMiB = memory;
        } else if (open?.kind === 'lambda') open.invokedAt = at;
        break;
      case 'TaskSucceeded':
      case 'TaskFailed':
      case 'TaskTimedOut':
      case 'TaskStartFailed':
      case 'TaskSubmitFailed':
        if (open) closeTask(open, at, parseJson(detail.output));
        open = undefined;
        break;
      default:
        break;
    }
  }
  // A run stopped (or still running) with a task open: priced up to its last event.
  if (open) closeTask(open, lastAt, undefined);
  if (lambdaStart) addLambdaDuration(lambdaStart.resource, lastAt - lambdaStart.at);

  const functions = [...lambdas.values()];
  const requests = functions.reduce((sum, fn) => sum + fn.invocations, 0);
  const gbSeconds = functions.reduce((sum, fn) => sum + fn.gbSeconds, 0);
  const lambdaUsd = requests * prices.lambda.perRequest + gbSeconds * prices.lambda.perGbSecond[arch];
  const transitionsUsd = transitions * prices.stepFunctions.perStateTransition;
  const fargateUsd = tasks.reduce((sum, task) => sum + task.usd, 0);
  const s3Usd = put * prices.s3.perPutRequest + get * prices.s3.perGetRequest;
  return {
    estimate: true,
    label: estimateLabel(prices),
    region: prices.region,
    pricesAsOf: prices.asOf,
    currency: 'USD',
    totalUsd: transitionsUsd + lambdaUsd + fargateUsd + s3Usd,
    stateTransitions: { count: transitions, retries, usd: transitionsUsd },
    lambda: { requests, gbSeconds, usd: lambdaUsd, functions },
    fargate: {
      vcpuSeconds: tasks.reduce((sum, task) => sum + task.vcpuSeconds, 0),
      gbSeconds: tasks.reduce((sum, task) => sum + task.gbSeconds, 0),
      usd: fargateUsd,
      tasks,
    },
    s3: { putRequests: put, getRequests: get, usd: s3Usd, basis: 'per-stage estimate' },
  };
}
