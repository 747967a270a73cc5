import { spawn } from 'node:child_process';
import { cp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@aws-lambda-powertools/logger';
import { git, gitCommit } from '#local/git/git.ts';
import { ensureLocalRemote } from '#local/git/local-remote.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { estimateExecutionCost } from '#shared/cost/estimate.ts';
import { describeCost } from '#shared/cost/format.ts';
import { approvalWatch } from './approval-watch.ts';
import { formatResults } from './executions.ts';
import { ExecutionFollower } from './follow.ts';
import { formatDuration, readableCause, resultsOf } from './story.ts';
import { printable } from './terminal.ts';

const example = fileURLToPath(new URL('../../examples/hello-service', import.meta.url));

export interface DemoOptions {
  dataDir: string;
  port: number;
  secret: string;
  logger: Logger;
  write: (line: string) => void;
  /** Stop once the run has ended, instead of keeping the services up until Ctrl-C. */
  exit?: boolean;
  /** The web console's port (when taken: any free one). @default 8081 */
  consolePort?: number;
}

function gitPush(cwd: string, write: (line: string) => void): Promise<number> {
  return new Promise((resolvePush, reject) => {
    const child = spawn('git', ['push', '--force', '--set-upstream', 'origin', 'main'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const relay = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) write(printable(`    ${line}`));
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    child.once('error', reject);
    child.once('close', (code) => resolvePush(code ?? 1));
  });
}

/**
 * `npm start`: the whole flow on one machine, narrated. A real `git push` of examples/hello-service
 * to a local bare repository whose hook sends the signed webhook, then the pipeline run itself.
 */
export async function demoCommand(options: DemoOptions): Promise<number> {
  const { write } = options;
  const dataDir = resolve(options.dataDir);
  // The demo accepts only its own pushes, whatever stepline.config.json (an AWS deployment's) says.
  const config = localDefaultConfig(options.secret);
  write('Stepline demo: one git push, through the same state machine and handlers that run on AWS.');
  write('');
  write(
    '1. Starting the local runtime (API Gateway, Step Functions, Lambda, ECS, ECR, SES and S3 stand-ins)…',
  );
  const start = (port: number) =>
    startLocalRuntime({
      dataDir,
      config,
      port,
      logger: options.logger,
      console: { port: options.consolePort ?? 8081, fallbackPort: 0 },
    });
  const runtime = await start(options.port).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    write(`   port ${options.port} is taken; using a free one`);
    return start(0);
  });
  const onRequestApproval = await approvalWatch({
    outboxDir: runtime.outboxDir,
    write,
    autoApprove: { comment: 'Approved in the Stepline demo' },
  });
  const follower = new ExecutionFollower(runtime.engine, write, (visit) => {
    if (visit.name !== 'RequestApproval') return;
    write('    The approval email is in the outbox, as SES would deliver it. A person opens the link;');
    write('    the demo does the same: it opens the page and submits its form with Approve.');
    onRequestApproval().catch((error: unknown) =>
      write(printable(`    could not follow the approval link: ${(error as Error).message}`)),
    );
  });
  try {
    write(`   webhook endpoint ${runtime.webhookUrl}/webhooks/github, data in ${dataDir}`);
    if (runtime.consoleOpenUrl)
      write(`   console  ${runtime.consoleOpenUrl}  (open it to watch the run live)`);
    write('');
    write('2. A service repository: examples/hello-service, committed into a fresh work tree…');
    const work = join(dataDir, 'demo', 'hello-service');
    await rm(work, { recursive: true, force: true });
    await cp(example, work, {
      recursive: true,
      filter: (source) =>
        !/[/\\](node_modules|dist|reports|\.npm-cache|\.build-cache)([/\\]|$)/.test(
          source.slice(example.length),
        ),
    });
    await git(work, ['init', '--quiet', '--initial-branch=main']);
    await git(work, ['add', '--all']);
    await gitCommit(work, ['commit', '--quiet', '-m', 'Say hello from the Stepline demo']);
    const remote = await ensureLocalRemote({
      dataDir,
      fullName: 'demo/hello-service',
      webhookUrl: `${runtime.webhookUrl}/webhooks/github`,
    });
    await git(work, ['remote', 'add', 'origin', remote]);
    write(`   work tree ${work}`);
    write(`   remote    ${remote} (its post-receive hook plays the git provider)`);
    write('');
    write('3. git push origin main');
    const started = follower.nextStarted();
    const pushed = await gitPush(work, write);
    if (pushed !== 0) {
      write(`git push failed with exit code ${pushed}`);
      return 1;
    }
    const arn = await Promise.race([
      started,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000).unref()),
    ]);
    if (!arn) {
      write('the push did not start an execution (see the remote: lines above)');
      return 1;
    }
    write('');
    write(
      `4. The pipeline runs (execution ${arn.split(':').at(-1)}): build, test, image, staging, approval, production`,
    );
    const { description } = await follower.follow(arn);
    const events = runtime.engine.getExecutionHistory(arn, { maxResults: 1000 }).events;
    const results = resultsOf(events);
    const total = (description.stopDate ?? new Date()).getTime() - description.startDate.getTime();
    write('');
    write(`${description.status} in ${formatDuration(total)}`);
    if (description.error)
      write(printable(`  ${description.error}: ${readableCause(description.cause).split('\n')[0]}`));
    for (const line of formatResults(results)) write(line);
    write(`  cost:       ${describeCost(estimateExecutionCost(events))}`);
    const productionUrl =
      results.production?.rolloutState === 'COMPLETED' ? results.production.url : undefined;
    if (productionUrl) {
      write('');
      write(`5. Production answers: GET ${productionUrl}/`);
      write(printable(`   ${await answerOf(`${productionUrl}/`)}`));
      write(`   production URL: ${productionUrl}`);
    }
    write('');
    write('Look around:');
    if (runtime.consoleOpenUrl) write(`  the console:         ${runtime.consoleOpenUrl}`);
    write(`  npx stepline executions show ${description.name} --data ${dataDir}`);
    write(`  npx stepline services --data ${dataDir}`);
    write(`  the approval email:  ${join(dataDir, 'outbox')}`);
    write(`  task logs:           ${join(dataDir, 'task-logs', description.name)}`);
    write(`  commit statuses:     ${join(dataDir, 'statuses', `${description.name}.jsonl`)}`);
    write(
      `  push again:          cd ${work} && git commit --allow-empty -m again && git push   (while \`npx stepline serve --data ${dataDir} --port ${new URL(runtime.webhookUrl).port}\` runs)`,
    );
    const code = description.status === 'SUCCEEDED' ? 0 : 1;
    if (code === 0 && !options.exit) {
      write('');
      write('The staging and production services keep running until you press Ctrl-C.');
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', () => resolveStop());
        process.once('SIGTERM', () => resolveStop());
      });
      write('stopping…');
    }
    return code;
  } finally {
    follower.close();
    await runtime.close();
  }
}

/** The first line of what a URL answers, with its status: proof that the deployment serves. */
async function answerOf(url: string): Promise<string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = (await response.text()).split('\n')[0]?.slice(0, 200) ?? '';
    return `${response.status} ${body}`;
  } catch (error) {
    return `no answer: ${(error as Error).message}`;
  }
}
