import { join } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { loadLocalConfig, UsageError } from '#local/config.ts';
import { type ConsoleListenOptions, isLoopback } from '#local/console/server.ts';
import { credentialsFile } from '#local/credentials.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import { secretFile } from '#local/secret.ts';
import type { LocalHistoryEvent } from '#local/sfn/store.ts';
import { printable } from './terminal.ts';

export interface ServeOptions {
  host: string;
  port: number;
  dataDir: string;
  configPath?: string;
  /** An external registry to push images to instead of the local one. */
  registry?: string;
  /** Base URL of the approval links in emails. @default the server's own URL */
  publicUrl?: string;
  secret: string;
  /** Serve the web console there (loopback unless `allowRemote`). @default no console */
  console?: ConsoleListenOptions;
  logger: Logger;
  write: (line: string) => void;
}

/** `stepline serve`: the local runtime until SIGINT/SIGTERM. */
export async function serveCommand(options: ServeOptions): Promise<number> {
  const { config, source } = loadLocalConfig(options.configPath, options.secret);
  const consoleHost = options.console?.host ?? '127.0.0.1';
  if (options.console && !isLoopback(consoleHost) && !options.console.allowRemote)
    throw new UsageError(
      `--console-host ${consoleHost} is beyond loopback: anyone who reaches it could try the console; add --allow-remote-console to do it anyway`,
    );
  const runtime = await startLocalRuntime({
    dataDir: options.dataDir,
    config,
    host: options.host,
    port: options.port,
    logger: options.logger,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
    ...(options.console ? { console: options.console } : {}),
  });
  const { write } = options;
  write(`stepline serve: listening on ${runtime.webhookUrl}`);
  if (runtime.consoleOpenUrl) {
    const bytes = Object.values(runtime.consoleAssetSizes ?? {}).reduce((sum, n) => sum + n, 0);
    write(`  console:         ${runtime.consoleOpenUrl}`);
    write(
      `                   (the token is in ${join(runtime.dataDir, 'console-token')}; app ${(bytes / 1024).toFixed(0)} KiB, offline)`,
    );
  }
  write(`  webhooks:        POST ${runtime.webhookUrl}/webhooks/{github|gitlab|gitea|bitbucket}`);
  write(`  configuration:   ${source}`);
  write(
    `  webhook secret:  ${process.env.STEPLINE_WEBHOOK_SECRET ? 'STEPLINE_WEBHOOK_SECRET' : secretFile(options.dataDir)}`,
  );
  write(
    `  credentials:     ${credentialsFile(runtime.dataDir)} (every endpoint below answers only requests signed with this key)`,
  );
  write(`  Step Functions:  ${runtime.sfnEndpoint} (AWS_ENDPOINT_URL_SFN)`);
  write(`  S3:              ${runtime.s3Endpoint} (AWS_ENDPOINT_URL_S3), bucket ${runtime.bucket}`);
  write(
    `  registry:        ${runtime.registryEndpoint} (AWS_ENDPOINT_URL_ECR; images ${runtime.registryHost}/<repo>, base images ${runtime.registryHost}/library/node)`,
  );
  if (options.registry) write(`  pushing to:      ${options.registry} (--registry)`);
  write(
    `  ECS:             ${runtime.ecsEndpoint} (AWS_ENDPOINT_URL_ECS; services: npx stepline services --data ${runtime.dataDir})`,
  );
  for (const { service } of runtime.ecs.services()) {
    const url = service.tags?.find((t) => t.key === 'stepline:url')?.value;
    write(
      printable(`    ${service.serviceName.padEnd(13)} ${url ?? ''}  (${service.desiredCount} tasks wanted)`),
    );
  }
  write(`  data:            ${runtime.dataDir}  (npx stepline executions list --data ${runtime.dataDir})`);
  write(`  approvals:       ${runtime.approvalBaseUrl}/approvals/{id} (emails in ${runtime.outboxDir})`);
  write(
    'Press Ctrl-C to stop. Executions still running then are recorded as FAILED (Stepline.RuntimeStopped).',
  );
  // What happens while it serves: each execution's start and end, and each approval link emailed.
  const onEvent = (arn: string, event: LocalHistoryEvent) => {
    const name = arn.split(':').at(-1);
    if (event.type === 'ExecutionStarted') write(printable(`${name}: started`));
    else if (/^Execution(Succeeded|Failed|TimedOut|Aborted)$/.test(String(event.type))) {
      const status = String(event.type).replace('Execution', '').toUpperCase();
      write(
        printable(`${name}: ${status}  (npx stepline executions show ${name} --data ${runtime.dataDir})`),
      );
    }
  };
  runtime.engine.on('event', onEvent);
  const stopEmails = runtime.onEmail((email) => {
    const approvals = email.links.filter((link) => /\/approvals\/[^/?#]+\?/.test(link));
    write(printable(`email to ${email.to.join(', ')}: ${email.subject}`));
    for (const link of approvals) write(printable(`  ${link}`));
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  write('stopping…');
  runtime.engine.off('event', onEvent);
  stopEmails();
  await runtime.close();
  return 0;
}
