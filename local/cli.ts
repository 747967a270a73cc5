import '#local/polyfills.ts';
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '#local/config.ts';
import { registryTarget } from '#local/registry/task-env.ts';
import { localWebhookSecret } from '#local/secret.ts';
import { createLogger } from '#shared/logger.ts';
import { approveCommand } from './commands/approve.ts';
import { demoCommand } from './commands/demo.ts';
import { listExecutions, redriveCommand, showExecution } from './commands/executions.ts';
import { metricsCommand } from './commands/metrics.ts';
import { rollbackCommand } from './commands/rollback.ts';
import { runCommand } from './commands/run.ts';
import { serveCommand } from './commands/serve.ts';
import { servicesCommand } from './commands/services.ts';
import { validateDirectory } from './commands/validate.ts';
import { postReceive } from './git/post-receive.ts';

// Output piped into `head` and the like may close early: the run still finishes and is recorded.
let stdoutOpen = true;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stdoutOpen = false;
});
const write = (line: string) => {
  if (stdoutOpen) process.stdout.write(`${line}\n`);
};
const fail = (line: string) => process.stderr.write(`${line}\n`);

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`expected an http(s) URL, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError(`expected an http(s) URL, got "${value}"`);
  return value.replace(/\/+$/, '');
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`expected a port number, got "${value}"`);
  return n;
}

function registryUrl(value: string): string {
  try {
    registryTarget(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^--registry: /, ''));
  }
  return value;
}

const registryHelp =
  'push images to this registry (http://host:port or https://host, anonymous) instead of the local one';

/** Structured logs go to a file-like stream only when asked; the terminal shows the story. */
function cliLogger() {
  return createLogger('stepline-local');
}

async function exit(code: Promise<number> | number): Promise<never> {
  try {
    process.exit(await code);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      fail(`stepline: ${(error as Error).message}: another process listens there; pick another --port`);
      process.exit(2);
    }
    if (error instanceof UsageError) {
      fail(`stepline: ${error.message}`);
      process.exit(2);
    }
    fail(`stepline: ${(error as Error).stack ?? error}`);
    process.exit(1);
  }
}

const program = new Command('stepline')
  .description('Stepline: serverless CI/CD for Amazon ECS, and its local runtime')
  .version(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version)
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

program
  .command('serve')
  .description('run the local runtime: webhooks in, pipeline executions out')
  .option('--port <port>', 'webhook port', port, 8080)
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--data <dir>', 'data directory', '.stepline')
  .option('--config <file>', 'deployment configuration (default: stepline.config.json if present)')
  .option('--registry <url>', registryHelp, registryUrl)
  .option(
    '--public-url <url>',
    'base URL of the approval links in emails (e.g. a tunnel to this machine); default: the server URL',
    httpUrl,
  )
  .option('--console-port <port>', 'web console port (when taken: any free one)', port, 8081)
  .option(
    '--console-host <host>',
    'web console address (loopback only, unless --allow-remote-console)',
    '127.0.0.1',
  )
  .option('--allow-remote-console', 'let the web console listen beyond loopback', false)
  .option('--no-console', 'do not serve the web console')
  .action(
    (opts: {
      port: number;
      host: string;
      data: string;
      config?: string;
      registry?: string;
      publicUrl?: string;
      consolePort: number;
      consoleHost: string;
      allowRemoteConsole: boolean;
      console: boolean;
    }) =>
      exit(
        serveCommand({
          host: opts.host,
          port: opts.port,
          dataDir: opts.data,
          ...(opts.console
            ? {
                console: {
                  host: opts.consoleHost,
                  port: opts.consolePort,
                  fallbackPort: 0,
                  allowRemote: opts.allowRemoteConsole,
                },
              }
            : {}),
          ...(opts.config ? { configPath: opts.config } : {}),
          ...(opts.registry ? { registry: opts.registry } : {}),
          ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
          secret: localWebhookSecret(opts.data),
          logger: cliLogger(),
          write,
        }),
      ),
  );

program
  .command('run')
  .description("push a repository's commit through the pipeline on this machine")
  .argument('[repo]', 'repository (or any directory: a snapshot commit is made)', '.')
  .option('--ref <ref>', 'branch, tag or commit', undefined)
  .option('--data <dir>', 'data directory', '.stepline')
  .option('--config <file>', 'deployment configuration')
  .option('--json', 'print the final execution as JSON', false)
  .option('--registry <url>', registryHelp, registryUrl)
  .option(
    '--auto-approve',
    "approve production as the first approver, through the emailed link's page and form",
    false,
  )
  .action(
    (
      repo: string,
      opts: {
        ref?: string;
        data: string;
        config?: string;
        json: boolean;
        registry?: string;
        autoApprove: boolean;
      },
    ) =>
      exit(
        runCommand({
          repoDir: repo,
          ...(opts.ref ? { ref: opts.ref } : {}),
          dataDir: opts.data,
          json: opts.json,
          autoApprove: opts.autoApprove,
          ...(opts.config ? { configPath: opts.config } : {}),
          ...(opts.registry ? { registry: opts.registry } : {}),
          secret: localWebhookSecret(opts.data),
          logger: cliLogger(),
          write,
        }),
      ),
  );

const executions = program
  .command('executions')
  .description('list and inspect executions in the data directory');
executions
  .command('list', { isDefault: true })
  .option('--data <dir>', 'data directory', '.stepline')
  .option('--json', 'JSON output', false)
  .action((opts: { data: string; json: boolean }) =>
    exit(listExecutions(opts.data, write, { json: opts.json })),
  );
executions
  .command('show')
  .argument('<name>', 'execution name')
  .option('--data <dir>', 'data directory', '.stepline')
  .option('--json', 'JSON output', false)
  .action((name: string, opts: { data: string; json: boolean }) =>
    exit(showExecution(opts.data, name, write, { json: opts.json })),
  );
executions
  .command('redrive')
  .description(
    'redrive a FAILED, TIMED_OUT or ABORTED execution (stopped less than 14 days ago) in the running serve: it goes on from the state where it stopped',
  )
  .argument('<name>', 'execution name')
  .option('--data <dir>', 'data directory', '.stepline')
  .option('--json', 'JSON output', false)
  .action((name: string, opts: { data: string; json: boolean }) =>
    exit(redriveCommand({ dataDir: opts.data, name, json: opts.json, write })),
  );

program
  .command('services')
  .description('list the local ECS services: revision, image, commit, task counts and URL')
  .option('--data <dir>', 'data directory', '.stepline')
  .option('--json', 'JSON output', false)
  .action((opts: { data: string; json: boolean }) =>
    exit(servicesCommand(opts.data, write, { json: opts.json })),
  );

program
  .command('validate')
  .description('check a stepline.yml and print every problem with its path')
  .argument('[dir]', 'repository directory', '.')
  .action((dir: string) =>
    exit(
      validateDirectory(dir).then((result) => {
        if (result.ok) {
          write(`${result.file}: valid`);
          return 0;
        }
        fail(`${result.file}:`);
        for (const problem of result.problems) fail(`  ${problem}`);
        return 2;
      }),
    ),
  );

program
  .command('metrics')
  .description(
    'DORA metrics (deployment frequency, lead time, change failure rate, time to restore) and cost per run',
  )
  .option('--since <period>', 'window: 30d, 12h, 2w or an ISO date', '30d')
  .option('--data <dir>', 'data directory (read only)', '.stepline')
  .option('--json', 'JSON output', false)
  .option('--aws', "read the deployed state machine's executions (default AWS credentials)", false)
  .option('--state-machine-arn <arn>', 'with --aws: the pipeline state machine')
  .option('--region <region>', 'with --aws: its region (default: the AWS configuration)')
  .action(
    (opts: {
      since: string;
      data: string;
      json: boolean;
      aws: boolean;
      stateMachineArn?: string;
      region?: string;
    }) =>
      exit(
        metricsCommand({
          since: opts.since,
          dataDir: opts.data,
          json: opts.json,
          aws: opts.aws,
          ...(opts.stateMachineArn ? { stateMachineArn: opts.stateMachineArn } : {}),
          ...(opts.region ? { region: opts.region } : {}),
          write,
        }),
      ),
  );

program
  .command('demo')
  .description(
    'the whole flow on this machine: a real git push of examples/hello-service through the pipeline',
  )
  .option('--data <dir>', 'data directory', '.stepline')
  .option('--port <port>', 'webhook port', port, 8080)
  .option('--exit', 'stop when the run has ended instead of keeping the services up until Ctrl-C', false)
  .option('--console-port <port>', 'web console port (when taken: any free one)', port, 8081)
  .action((opts: { data: string; port: number; exit: boolean; consolePort: number }) =>
    exit(
      demoCommand({
        dataDir: opts.data,
        port: opts.port,
        consolePort: opts.consolePort,
        exit: opts.exit,
        secret: localWebhookSecret(opts.data),
        logger: cliLogger(),
        write,
      }),
    ),
  );

program
  .command('approve')
  .description('approve (or --reject) a production rollout as a click on the emailed link would')
  .argument('<id-or-url>', 'the approval link from the email, or its id (looked up in <data>/outbox)')
  .option('--reject', 'reject instead of approve', false)
  .option('--comment <text>', 'comment kept in the run history (and sent to the pusher on reject)')
  .option('--as <email>', "which approver's link to use when several were emailed (default: the first)")
  .option('--data <dir>', 'data directory', '.stepline')
  .action((target: string, opts: { reject: boolean; comment?: string; as?: string; data: string }) =>
    exit(
      approveCommand({
        target,
        reject: opts.reject,
        ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
        ...(opts.as ? { as: opts.as } : {}),
        dataDir: opts.data,
        write,
      }),
    ),
  );

program
  .command('rollback')
  .description("put a previous revision back on an environment's ECS service and wait until it serves")
  .requiredOption('--env <env>', 'staging or production', (value: string) => {
    if (value !== 'staging' && value !== 'production')
      throw new InvalidArgumentError(`expected staging or production, got "${value}"`);
    return value;
  })
  .option(
    '--to <revision>',
    'task-definition ARN, family:revision or revision number (default: the previous one)',
  )
  .option('--repository <owner/name>', 'whose target, when several are configured for the environment')
  .option('--data <dir>', 'data directory of the running stepline serve', '.stepline')
  .option('--config <file>', 'deployment configuration')
  .option('--aws', "roll back the deployed stack's service (default AWS credentials)", false)
  .action(
    (opts: {
      env: 'staging' | 'production';
      to?: string;
      repository?: string;
      data: string;
      config?: string;
      aws: boolean;
    }) =>
      exit(
        rollbackCommand({
          environment: opts.env,
          ...(opts.to ? { to: opts.to } : {}),
          ...(opts.repository ? { repository: opts.repository } : {}),
          ...(opts.config ? { configPath: opts.config } : {}),
          dataDir: opts.data,
          aws: opts.aws,
          secret: () => localWebhookSecret(opts.data),
          write,
          fail,
        }),
      ),
  );

program
  .command('git-hook', { hidden: true })
  .argument('<hook>', 'post-receive')
  .action(async (hook: string) => {
    if (hook !== 'post-receive') return exit(2);
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return exit(
      postReceive(process.env.GIT_DIR ?? process.cwd(), Buffer.concat(chunks).toString('utf8'), write),
    );
  });

await program.parseAsync(process.argv);
