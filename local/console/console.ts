import { join } from 'node:path';
import { ECSClient } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import { fromEndpoint } from '#local/commands/services.ts';
import { localRegion } from '#local/s3.ts';
import type { LocalStepFunctions } from '#local/sfn/engine.ts';
import { readApprovalRecord } from '#shared/approval/record.ts';
import type { DeploymentConfig } from '#shared/deployment-config.ts';
import { decideApproval, RollbackJobs } from './actions.ts';
import { buildConsoleAssets } from './assets.ts';
import { type ConsoleListenOptions, type ConsoleServer, startConsoleServer } from './server.ts';
import { consoleToken } from './token.ts';

export interface LocalConsoleOptions extends ConsoleListenOptions {
  dataDir: string;
  engine: LocalStepFunctions;
  /** The rendered ASL the engine runs. */
  definition: string;
  config: DeploymentConfig;
  /** The artifact bucket's client and name: approval records live there. */
  s3: S3Client;
  bucket: string;
  /** The local API Gateway (webhooks, `/approvals/{id}`). */
  webhookUrl: string;
  /** The local ECS endpoint: services and rollbacks. */
  ecsEndpoint: string;
  /** The data directory's access key, which the local ECS checks signatures with. */
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface LocalConsole extends ConsoleServer {
  /** Bytes of each built asset (the bundle's size). */
  assetSizes: Record<string, number>;
}

/**
 * The console of a local runtime: builds the browser app into `<data>/runtime/console`, reads the
 * data directory's console token, and serves both on loopback, acting through the same code as the
 * CLI: approvals through the approval page's form, rollbacks through `stepline rollback`'s code,
 * services as `stepline services` lists them, stop through the engine.
 */
export async function startLocalConsole(options: LocalConsoleOptions): Promise<LocalConsole> {
  const assets = await buildConsoleAssets(join(options.dataDir, 'runtime', 'console'));
  const ecs = new ECSClient({
    endpoint: options.ecsEndpoint,
    region: localRegion,
    credentials: options.credentials,
  });
  let server: ConsoleServer | undefined;
  const rollbacks = new RollbackJobs(
    {
      dataDir: options.dataDir,
      aws: false,
      secret: () => '',
      config: { config: options.config, source: 'the runtime configuration' },
      ecs,
    },
    () => server?.notifyServices(),
  );
  server = await startConsoleServer(
    {
      dataDir: options.dataDir,
      engine: options.engine,
      definition: options.definition,
      token: consoleToken(options.dataDir),
      assets,
      webhookUrl: () => options.webhookUrl,
      readApproval: (id) => readApprovalRecord(options.s3, options.bucket, id),
      decideApproval: (request) =>
        decideApproval({ ...request, dataDir: options.dataDir, approvalBaseUrl: options.webhookUrl }),
      listServices: () => fromEndpoint(options.ecsEndpoint, options.credentials),
      rollbacks,
    },
    options,
  );
  const started = server;
  return {
    ...started,
    assetSizes: assets.sizes,
    close: async () => {
      await started.close();
      ecs.destroy();
    },
  };
}
