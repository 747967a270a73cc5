import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { generateCredentials } from '#local/credentials.ts';
import { listen } from '#local/http/listen.ts';
import { apiGatewayIntegration } from '#local/lambda/api-gateway.ts';
import { bundleBootstrap, bundleLambda } from '#local/lambda/bundles.ts';
import { lambdaEnvironment } from '#local/lambda/environment.ts';
import { LocalLambdaFunction } from '#local/lambda/local-function.ts';
import { localRegion } from '#local/s3.ts';
import { type LocalSecretsExtension, startLocalSecretsExtension } from '#local/secrets-extension.ts';
import { localFunctionArn } from '#local/substitutions.ts';
import { type LocalRoute, startWebhookServer, type WebhookServer } from '#local/webhook-server.ts';
import { lambdaCompute } from '#shared/compute.ts';
import type { DeploymentConfig } from '#shared/deployment-config.ts';
import type { ResolveSecret } from '#shared/secrets.ts';

export const webhookStateMachineArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:stepline-pipeline';

/** One StartExecution the Step Functions stand-in received. */
export interface StartedExecution {
  name: string;
  input: string;
  stateMachineArn: string;
}

export interface WorkerWebhook {
  server: WebhookServer;
  /** The webhook function (its bundle in workers), e.g. to count warm workers. */
  fn: LocalLambdaFunction;
  extension: LocalSecretsExtension;
  /** Every StartExecution the webhook sent, in order. */
  started: StartedExecution[];
  close(): Promise<void>;
}

/**
 * The webhook as the local runtime runs it, around a given configuration: its bundle (built into
 * `bundleDir`) in a worker with the Lambda environment, behind the local API Gateway stand-in, its
 * secrets through the extension stand-in (answered by `resolveSecret`), and a loopback Step
 * Functions stand-in that answers StartExecution at once and records it.
 */
export async function startWorkerWebhook(options: {
  config: DeploymentConfig;
  bundleDir: string;
  resolveSecret: ResolveSecret;
  routes?: readonly LocalRoute[];
}): Promise<WorkerWebhook> {
  const started: StartedExecution[] = [];
  const sfn = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target !== 'AWSStepFunctions.StartExecution') {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException', message: target }));
        return;
      }
      const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as StartedExecution;
      started.push(request);
      const answer = JSON.stringify({
        executionArn: `${request.stateMachineArn.replace(':stateMachine:', ':execution:')}:${request.name}`,
        startDate: Date.now() / 1000,
      });
      // With its length, as Step Functions answers: the SDK then reads no chunked framing.
      res.writeHead(200, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(answer),
      });
      res.end(answer);
    });
  });
  const sfnUrl = (await listen(sfn, '127.0.0.1', 0)).url;
  const extension = await startLocalSecretsExtension({ resolveSecret: options.resolveSecret });
  const compute = lambdaCompute.webhook;
  const bundle = await bundleLambda(compute, options.bundleDir);
  const credentials = generateCredentials();
  const unused = 'http://127.0.0.1:9';
  const fn = new LocalLambdaFunction({
    compute,
    bundle,
    bootstrap: await bundleBootstrap(options.bundleDir),
    env: () =>
      lambdaEnvironment('webhook', compute, bundle, {
        dataDir: join(options.bundleDir, 'data'),
        config: options.config,
        bucket: 'unused',
        region: localRegion,
        // The webhook reaches Step Functions only.
        endpoints: { s3: unused, sfn: () => sfnUrl, ses: () => unused, approvalBaseUrl: () => unused },
        credentials: () => credentials,
        logLevel: 'SILENT',
        stateMachineArn: () => webhookStateMachineArn,
        secretsExtension: extension,
      }),
    functionArn: localFunctionArn(compute.folder),
  });
  const server = await startWebhookServer({
    webhook: apiGatewayIntegration(fn),
    ...(options.routes ? { routes: options.routes } : {}),
  });
  return {
    server,
    fn,
    extension,
    started,
    close: async () => {
      await server.close();
      await fn.close();
      await extension.close();
      await closeServer(sfn);
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
