import '#local/polyfills.ts';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { describeRunnerExit } from '#functions/task-stopped/task-stopped.ts';
import { approvalApiRoutes } from '#local/approvals.ts';
import { type LocalConsole, startLocalConsole } from '#local/console/console.ts';
import type { ConsoleListenOptions } from '#local/console/server.ts';
import { ensureLocalCredentials } from '#local/credentials.ts';
import { startEcsApiServer } from '#local/ecs/api-server.ts';
import { ensureConfiguredServices } from '#local/ecs/configured-services.ts';
import { registryImageSource } from '#local/ecs/images.ts';
import { LocalEcs } from '#local/ecs/local-ecs.ts';
import { ecsRunTaskHandler, registerRunnerTaskDefinitions } from '#local/ecs/run-task.ts';
import { bundleRunner } from '#local/ecs/runner-bundle.ts';
import { localLambdas } from '#local/lambdas.ts';
import { releaseLanesOnExecutionEnd } from '#local/lane-release.ts';
import { writeRegistryAuthFile } from '#local/registry/auth.ts';
import { startLocalRegistry } from '#local/registry/server.ts';
import { publisherTaskEnv } from '#local/registry/task-env.ts';
import { acquireRuntimeLock } from '#local/runtime-lock.ts';
import { localRegion, localS3Client, startLocalS3 } from '#local/s3.ts';
import { startLocalSecretsExtension } from '#local/secrets-extension.ts';
import { type SentEmail, startLocalSes } from '#local/ses/server.ts';
import { startSfnApiServer } from '#local/sfn/api-server.ts';
import { LocalStepFunctions, type LocalStepFunctionsOverrides, type TaskHandler } from '#local/sfn/engine.ts';
import { localSubstitutions } from '#local/substitutions.ts';
import { startWebhookServer } from '#local/webhook-server.ts';
import type { DeploymentConfig } from '#shared/deployment-config.ts';
import { RunnerExitedError } from '#shared/errors.ts';
import { localSecretResolver, type ResolveSecret } from '#shared/secrets.ts';
import { render } from '#state-machines/pipeline.ts';

const ecsRunTask = 'arn:aws:states:::ecs:runTask.waitForTaskToken';
const lambdaInvokeWithToken = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

export interface LocalRuntimeOptions {
  dataDir: string;
  config: DeploymentConfig;
  /** Webhook server address. @default 127.0.0.1:8080 */
  host?: string;
  port?: number;
  resolveSecret?: ResolveSecret;
  logger: Logger;
  /** Milliseconds every `Wait` state of the pipeline waits locally. @default 1000 */
  waitMs?: number;
  /** Seconds between the runner's heartbeats. @default 5 */
  heartbeatSeconds?: number;
  /** Base URL of approval links in emails (e.g. a tunnel to this machine). @default the local server's URL */
  publicUrl?: string;
  /**
   * An external registry URL (`http://127.0.0.1:5000`, `https://registry.example`) that images
   * are pushed to, anonymously, instead of the local registry. Base images still come from the
   * local registry.
   */
  registry?: string;
  /**
   * How the local ECS runs service tasks: `process` (the image's unpacked root, in bubblewrap when
   * usable) or `container` (podman, when usable). @default STEPLINE_ECS_MODE, else `process`
   */
  ecsMode?: 'process' | 'container';
  /**
   * Serve the web console (`local/console/`) on this address: loopback only unless `allowRemote`.
   * @default no console
   */
  console?: ConsoleListenOptions;
}

export interface LocalRuntime {
  dataDir: string;
  webhookUrl: string;
  sfnEndpoint: string;
  s3Endpoint: string;
  bucket: string;
  /** The SES v2 stand-in (AWS_ENDPOINT_URL_SESV2). */
  sesEndpoint: string;
  /** Where sent emails land as `.eml` files. */
  outboxDir: string;
  /** Base URL of the approval links the emails carry. */
  approvalBaseUrl: string;
  /** Calls `listener` for each email sent from now on (e.g. to print approval links); returns the unsubscribe. */
  onEmail(listener: (email: SentEmail) => void): () => void;
  /** The local registry (OCI distribution API under /v2/, ECR JSON API at /): `http://127.0.0.1:<port>`. */
  registryEndpoint: string;
  /** `127.0.0.1:<port>`, how image references name the local registry. */
  registryHost: string;
  /** The local ECS (AWS_ENDPOINT_URL_ECS): `http://127.0.0.1:<port>`. Its services outlive executions but not the runtime. */
  ecsEndpoint: string;
  /** The local ECS itself, for in-process callers (e.g. to list services). */
  ecs: LocalEcs;
  engine: LocalStepFunctions;
  /** The web console, when started (`console` option): its URL, and the URL with its token to open. */
  consoleUrl?: string;
  consoleOpenUrl?: string;
  /** Bytes of each console asset (the bundle's size). */
  consoleAssetSizes?: Record<string, number>;
  close(): Promise<void>;
}

/** What the local runtime changes in the engine: every `Wait` state waits `waitMs`, whatever its name. */
export function localEngineOverrides(
  options: Pick<LocalRuntimeOptions, 'waitMs'>,
): LocalStepFunctionsOverrides {
  return { waitTimeOverrides: options.waitMs ?? 1000 };
}

/** Where another `stepline` process finds a running runtime. */
const runtimeFile = (dataDir: string) => join(dataDir, 'runtime.json');

/**
 * Starts everything the pipeline needs on this machine, each AWS service by its local stand-in:
 * S3 (s3rver), Step Functions (aws-local-stepfunctions + Stepline's engine and JSON endpoint),
 * Lambda (each function's bundle in worker threads), ECS (RunTask of the runner as a child process,
 * services of the registry's images behind a proxy port each), API Gateway (node:http).
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const dataDir = resolve(options.dataDir);
  const releaseLock = await openDataDir(dataDir);
  const bucket = 'stepline-artifacts';
  // Closed last to first: the lock goes when everything else has stopped.
  const closers: (() => Promise<void>)[] = [async () => releaseLock()];
  try {
    // Every stand-in answers only requests signed with the data directory's key (<data>/credentials.json).
    const localCredentials = await ensureLocalCredentials(dataDir);
    const s3 = await startLocalS3({ directory: join(dataDir, 's3'), bucket, credentials: localCredentials });
    closers.unshift(() => s3.close());
    const ses = await startLocalSes({ outboxDir: join(dataDir, 'outbox'), credentials: localCredentials });
    closers.unshift(() => ses.close());
    let approvalBaseUrl = options.publicUrl?.replace(/\/+$/, '') ?? '';
    const registry = await startLocalRegistry({
      credentials: localCredentials,
      dir: join(dataDir, 'registry'),
      // Image URIs recorded by earlier runs (deployments, rollbacks) name the port.
      reusePort: true,
      onBaseImageError: (error) =>
        options.logger.error('the local base image library/node could not be built', { error }),
    });
    closers.unshift(() => registry.close());
    const runnerPath = await bundleRunner(join(dataDir, 'runtime'));
    // Services run the registry's images, so the ECS stand-in starts after the registry.
    const ecs = await LocalEcs.start({
      dataDir,
      // Pulls from the local registry need its token, as pulls from ECR do.
      images: registryImageSource({
        auth: (host) =>
          host === registry.host
            ? { kind: 'basic', username: 'AWS', password: registry.password }
            : undefined,
      }),
      runnerPath,
      registryAuthFile: await writeRegistryAuthFile(
        join(dataDir, 'ecs', 'registry-auth.json'),
        registry.host,
        registry.password,
      ),
      logger: options.logger,
      mode: options.ecsMode ?? (process.env.STEPLINE_ECS_MODE === 'container' ? 'container' : 'process'),
    });
    closers.unshift(() => ecs.close());
    const ecsApi = await startEcsApiServer(ecs, { credentials: localCredentials });
    closers.unshift(() => ecsApi.close());
    ecs.ensureCluster(localSubstitutions.RunnerClusterArn.split('/').at(-1) ?? 'stepline-local');
    await ensureConfiguredServices(ecs, options.config);
    // The engine is needed by the ECS stand-in (to fail a task whose process died) and the
    // ECS stand-in by the engine: bind late.
    let engine: LocalStepFunctions | undefined;
    let sfnEndpoint = '';
    const taskLogDir = join(dataDir, 'task-logs');
    const runTask: TaskHandler = ecsRunTaskHandler(ecs, {
      taskLogDir,
      onExit: ({ code, signal }, ctx, logPath) => {
        if (code === 0 || !ctx.taskToken || !engine) return;
        try {
          // Fargate would leave this to HeartbeatSeconds; locally we know at once.
          engine.sendTaskFailure(
            ctx.taskToken,
            new RunnerExitedError('').name,
            describeRunnerExit(ctx.stateName, { code, signal }, logPath),
          );
        } catch {
          // The task already has its result (or the execution ended): nothing to report.
        }
      },
    });
    // The webhook reads its secrets as on AWS, from the Parameters and Secrets extension's HTTP
    // API; its stand-in answers them with the local resolver (a {secretName} falls back to
    // STEPLINE_WEBHOOK_SECRET), on loopback, to the session token only the webhook's worker has.
    const secretsExtension = await startLocalSecretsExtension({
      resolveSecret: options.resolveSecret ?? localSecretResolver(),
    });
    closers.unshift(() => secretsExtension.close());
    // Started after the webhook server (it acts through it); the functions read its URL at cold start.
    let webConsole: LocalConsole | undefined;
    // Each function's bundle, run in workers of its own with the local endpoints in its environment.
    const lambdas = await localLambdas({
      dataDir,
      config: options.config,
      bucket,
      endpoints: {
        s3: s3.endpoint,
        sfn: () => sfnEndpoint,
        ses: () => ses.endpoint,
        ecs: ecsApi.url,
        ecr: registry.endpoint,
        approvalBaseUrl: () => approvalBaseUrl,
        // Known once the console has started (below, before the functions are prewarmed).
        consoleUrl: () => webConsole?.url,
      },
      credentials: () => localCredentials,
      logger: options.logger,
      stateMachineArn: () => engine?.stateMachineArn ?? '',
      secretsExtension,
    });
    closers.unshift(() => lambdas.close());
    engine = new LocalStepFunctions({
      dataDir,
      stateMachineName: 'stepline-pipeline',
      definition: render(localSubstitutions),
      tasks: {
        [localSubstitutions.ReportStatusFunctionArn]: lambdas.reportStatus,
        [localSubstitutions.FetchSourceFunctionArn]: lambdas.fetchSource,
        [localSubstitutions.DeployFunctionArn]: lambdas.deploy,
        [localSubstitutions.CheckDeploymentFunctionArn]: lambdas.checkDeployment,
        [lambdaInvokeWithToken]: lambdas.invokeWithToken,
        [localSubstitutions.RequestApprovalFunctionArn]: lambdas.notifyApprovalOutcome,
        [localSubstitutions.LaneFunctionArn]: lambdas.lane,
        [ecsRunTask]: runTask,
      },
      overrides: localEngineOverrides(options),
      logger: options.logger,
    });
    const running = engine;
    closers.unshift(() => running.close());
    const api = await startSfnApiServer(engine, {
      host: '127.0.0.1',
      port: 0,
      credentials: localCredentials,
    });
    sfnEndpoint = api.url;
    closers.unshift(() => api.close());
    // Once the lane function can reach Step Functions (it answers queued runs' tokens).
    const stopReleasingLanes = releaseLanesOnExecutionEnd(
      running,
      (event) => lambdas.functions.lane.invoke(event),
      options.logger,
    );
    closers.unshift(async () => stopReleasingLanes());
    // The runner's task definitions name this runtime's endpoints: registered anew at each start.
    registerRunnerTaskDefinitions(ecs, {
      taskEnv: {
        ARTIFACT_BUCKET: bucket,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_ENDPOINT_URL_SFN: sfnEndpoint,
        AWS_REGION: localRegion,
        AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        STEPLINE_HEARTBEAT_SECONDS: String(options.heartbeatSeconds ?? 5),
      },
      publisherEnv: publisherTaskEnv({ ...registry, external: options.registry }),
    });
    const webhook = await startWebhookServer({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 8080,
      // The webhook's and the approval API's bundles in their workers, as the HTTP API's integrations invoke them.
      webhook: (event) => lambdas.webhook(event),
      logger: options.logger,
      routes: approvalApiRoutes((event) => lambdas.approvalApi(event)),
    });
    closers.unshift(() => webhook.close());
    const webhookUrl = webhook.url;
    approvalBaseUrl ||= webhookUrl;
    if (options.console) {
      webConsole = await startLocalConsole({
        ...options.console,
        dataDir,
        engine,
        definition: render(localSubstitutions),
        config: options.config,
        s3: localS3Client(s3.endpoint, localCredentials),
        bucket,
        webhookUrl,
        ecsEndpoint: ecsApi.url,
        credentials: localCredentials,
      });
      const started = webConsole;
      closers.unshift(() => started.close());
    }
    // Every endpoint a function's environment names (the console's too) is known now.
    void lambdas.prewarm();
    await writeFile(
      runtimeFile(dataDir),
      `${JSON.stringify({ pid: process.pid, webhookUrl, sfnEndpoint, s3Endpoint: s3.endpoint, bucket, sesEndpoint: ses.endpoint, outboxDir: ses.outboxDir, approvalBaseUrl, registryEndpoint: registry.endpoint, registryHost: registry.host, ecsEndpoint: ecsApi.url, ...(options.registry ? { externalRegistry: options.registry } : {}), ...(webConsole ? { consoleUrl: webConsole.url } : {}), stateMachineArn: engine.stateMachineArn }, null, 2)}\n`,
    );
    // An approval that a stop of serve interrupted is asked again: the run is redriven at
    // RequestApproval, which mails fresh links (a new task token; the old links decide nothing).
    for (const executionArn of await engine.redriveStoppedByRuntime(
      ({ stateName }) => stateName === 'RequestApproval',
    ))
      options.logger.info('redrove an execution a stop of the runtime caught waiting for approval', {
        executionArn,
      });
    return {
      dataDir,
      webhookUrl,
      sfnEndpoint,
      s3Endpoint: s3.endpoint,
      bucket,
      sesEndpoint: ses.endpoint,
      outboxDir: ses.outboxDir,
      approvalBaseUrl,
      onEmail: (listener) => ses.onEmail(listener),
      registryEndpoint: registry.endpoint,
      registryHost: registry.host,
      ecsEndpoint: ecsApi.url,
      ecs,
      engine,
      ...(webConsole
        ? {
            consoleUrl: webConsole.url,
            consoleOpenUrl: webConsole.openUrl,
            consoleAssetSizes: webConsole.assetSizes,
          }
        : {}),
      close: () => closeAll(closers),
    };
  } catch (error) {
    await closeAll(closers);
    throw error;
  }
}

/**
 * Makes `dataDir` ready for one runtime: creates it or makes an existing one owner-only (live task
 * tokens appear in execution histories, and the webhook secret lives here), then takes its
 * `runtime.lock` (see `acquireRuntimeLock`). Returns the lock's release.
 */
export async function openDataDir(dataDir: string): Promise<() => void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  return acquireRuntimeLock(dataDir);
}

async function closeAll(closers: (() => Promise<void>)[]): Promise<void> {
  for (const close of closers.splice(0)) {
    await close().catch(() => {});
  }
}
