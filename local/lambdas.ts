import { join, resolve } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { apiGatewayIntegration } from '#local/lambda/api-gateway.ts';
import { bundleBootstrap, bundleLambdas } from '#local/lambda/bundles.ts';
import {
  type LambdaEnvironmentOptions,
  type LocalCredentials,
  type LocalLambdaEndpoints,
  lambdaEnvironment,
} from '#local/lambda/environment.ts';
import { LocalLambdaFunction } from '#local/lambda/local-function.ts';
import { localRegion } from '#local/s3.ts';
import type { EngineLogger, TaskHandler } from '#local/sfn/engine.ts';
import { localFunctionArn } from '#local/substitutions.ts';
import { type LambdaKey, lambdaCompute } from '#shared/compute.ts';
import type { DeploymentConfig } from '#shared/deployment-config.ts';

export interface LocalLambdaDeps {
  dataDir: string;
  config: DeploymentConfig;
  bucket: string;
  /** The local stand-ins the functions reach through `AWS_ENDPOINT_URL_<SERVICE>`. */
  endpoints: LocalLambdaEndpoints;
  /** The data directory's credentials (local/credentials.ts), which the functions sign with; read at each cold start. */
  credentials: () => LocalCredentials;
  /** Powertools log level of the functions. @default POWERTOOLS_LOG_LEVEL, else INFO */
  logLevel?: string;
  /** Where a failed webhook or approval API invocation is logged (the client gets API Gateway's 500). */
  logger?: Pick<EngineLogger, 'error'>;
  /** Concurrent invocations per function. @default defaultReservedConcurrency (10) */
  reservedConcurrency?: number;
  /** The state machine the webhook starts executions of; read at the webhook's cold start. */
  stateMachineArn(): string;
  /** The secrets extension's stand-in (local/secrets-extension.ts), which the webhook reads its secrets from. */
  secretsExtension: { port: number; token: string };
}

/** The functions the local state machine invokes, in the order a run first needs them. */
const taskFunctions = [
  'reportStatus',
  'fetchSource',
  'lane',
  'deploy',
  'checkDeployment',
  'requestApproval',
] as const;
type TaskFunctionKey = (typeof taskFunctions)[number];
/** Every function run in workers: the state machine's, and the webhook and approval API behind the local server. */
type WorkerFunctionKey = TaskFunctionKey | 'webhook' | 'approvalApi';

export interface LocalLambdas {
  fetchSource: TaskHandler;
  reportStatus: TaskHandler;
  deploy: TaskHandler;
  checkDeployment: TaskHandler;
  /** `lambda:invoke.waitForTaskToken`: the function gets the state's `Payload`, as that integration passes it. */
  requestApproval: TaskHandler;
  /** NotifyApprovalOutcome invokes the same function by its ARN, with the state's input as the event. */
  notifyApprovalOutcome: TaskHandler;
  /** EnterLane, the lane checkpoints and LeaveLane* (functions/lane). */
  lane: TaskHandler;
  /**
   * `lambda:invoke.waitForTaskToken`, which more than one state uses (RequestApproval, WaitInLane):
   * the function the state's `FunctionName` names gets the state's `Payload`.
   */
  invokeWithToken: TaskHandler;
  /** `POST /webhooks/{provider}`: the webhook function as the HTTP API's integration invokes it. */
  webhook: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;
  /** `GET|POST /approvals/{id}`: the approval API function as the HTTP API's integration invokes it. */
  approvalApi: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2>;
  /** The functions themselves (their catalog settings, warm workers). */
  functions: Readonly<Record<WorkerFunctionKey, LocalLambdaFunction>>;
  /**
   * Starts one worker per function, one after the other in the order a run needs them, so the
   * first run does not wait for each cold start in turn, and the inits do not all compete for the
   * CPU at once. Call it once the endpoints the environments name are known.
   */
  prewarm(): Promise<void>;
  /** Stops every function's workers. */
  close(): Promise<void>;
}

/** Where the local runtime keeps the functions' bundles: `<data>/runtime/lambdas/<folder>/index.mjs`. */
export const lambdaBundleDir = (dataDir: string) => join(resolve(dataDir), 'runtime', 'lambdas');

/**
 * The pipeline's Lambdas as the local runtime runs them: each function's `handler` export from
 * the bundle the stack deploys (built once into `<data>/runtime/lambdas/`, rebuilt when a source
 * changes), in its own worker threads with its own environment (local endpoints, the local
 * switches), the catalog's memory and timeout, and a concurrency limit. The handler's env
 * parsing, middy wiring and SDK clients run here as they run on AWS.
 */
export async function localLambdas(deps: LocalLambdaDeps): Promise<LocalLambdas> {
  const outDir = lambdaBundleDir(deps.dataDir);
  const bootstrap = await bundleBootstrap(outDir);
  const environment: LambdaEnvironmentOptions = {
    dataDir: resolve(deps.dataDir),
    config: deps.config,
    bucket: deps.bucket,
    region: localRegion,
    endpoints: deps.endpoints,
    credentials: deps.credentials,
    ...(deps.logLevel === undefined ? {} : { logLevel: deps.logLevel }),
    stateMachineArn: deps.stateMachineArn,
    secretsExtension: deps.secretsExtension,
  };
  // The webhook first: a push reaches it before any other (prewarm goes in this order).
  const keys: readonly WorkerFunctionKey[] = ['webhook', ...taskFunctions, 'approvalApi'];
  const bundles = await bundleLambdas(
    keys.map((key) => lambdaCompute[key]),
    outDir,
  );
  const entries = keys.map((key) => {
    const compute = lambdaCompute[key];
    const bundle = bundles.get(compute.folder) ?? '';
    return [
      key,
      new LocalLambdaFunction({
        compute,
        bundle,
        bootstrap,
        env: () => lambdaEnvironment(key as LambdaKey, compute, bundle, environment),
        functionArn: localFunctionArn(compute.folder),
        ...(deps.reservedConcurrency === undefined ? {} : { reservedConcurrency: deps.reservedConcurrency }),
      }),
    ] as const;
  });
  const functions = Object.fromEntries(entries) as Record<WorkerFunctionKey, LocalLambdaFunction>;
  const invoke =
    (fn: LocalLambdaFunction): TaskHandler =>
    (input) =>
      fn.invoke(input);
  return {
    fetchSource: invoke(functions.fetchSource),
    reportStatus: invoke(functions.reportStatus),
    deploy: invoke(functions.deploy),
    checkDeployment: invoke(functions.checkDeployment),
    requestApproval: (input) =>
      functions.requestApproval.invoke((input as { Payload?: unknown } | null)?.Payload),
    notifyApprovalOutcome: invoke(functions.requestApproval),
    webhook: apiGatewayIntegration(functions.webhook, deps.logger),
    approvalApi: apiGatewayIntegration(functions.approvalApi, deps.logger),
    lane: invoke(functions.lane),
    invokeWithToken: (input) => {
      const { FunctionName, Payload } = (input ?? {}) as { FunctionName?: unknown; Payload?: unknown };
      const fn = taskFunctions
        .map((key) => functions[key])
        .find((f) => localFunctionArn(f.compute.folder) === FunctionName);
      if (!fn) {
        const error = new Error(`Function not found: ${String(FunctionName)}`);
        error.name = 'Lambda.ResourceNotFoundException';
        throw error;
      }
      return fn.invoke(Payload);
    },
    functions,
    prewarm: async () => {
      for (const fn of Object.values(functions)) await fn.prewarm();
    },
    close: async () => {
      await Promise.all(Object.values(functions).map((fn) => fn.close()));
    },
  };
}
