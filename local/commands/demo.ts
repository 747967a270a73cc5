import { spawn } from 'node:child_process';
import { cp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@aws-lambda-powertools/logger';
import { git, gitCommit } from '#local/git/git.ts';
import { ensureLocalRemote } from '#local/git/local-remote.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { ExecutionFollower } from './follow.ts';
import { formatDuration } from './story.ts';

const example = fileURLToPath(new URL('../../examples/hello-service', import.meta.url));

export interface DemoOptions {
  dataDir: string;
  port: number;
  secret: string;
  logger: Logger;
  write: (line: string) => void;
}

function gitPush(cwd: string, write: (line: string) => void): Promise<number> {
  return new Promise((resolvePush, reject) => {
    const child = spawn('git', ['push', '--force', '--set-upstream', 'origin', 'main'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const relay = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) write(`    ${line}`);
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
  write('1. Starting the local runtime (API Gateway, Step Functions, Lambda, ECS and S3 stand-ins)…');
  const start = (port: number) => startLocalRuntime({ dataDir, config, port, logger: options.logger });
  const runtime = await start(options.port).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    write(`   port ${options.port} is taken; using a free one`);
    return start(0);
  });
  const follower = new ExecutionFollower(runtime.engine, write);
  try {
    write(`   webhook endpoint ${runtime.webhookUrl}/webhooks/github, data in ${dataDir}`);
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
    write(`4. The pipeline runs (execution ${arn.split(':').at(-1)}):`);
    const { description } = await follower.follow(arn);
    const total = (description.stopDate ?? new Date()).getTime() - description.startDate.getTime();
    write('');
    write(`${description.status} in ${formatDuration(total)}`);
    const frontier = description.error === 'NotImplementedError';
    if (description.error) write(`  ${description.error}: ${(description.cause ?? '').split('\n')[0]}`);
    if (frontier) {
      write('');
      write('This version of Stepline runs source, build and test for real; the steps after them');
      write('(image, staging, approval, production) arrive in the next releases, and until then the');
      write('run stops there with NotImplementedError instead of reporting a success it did not earn.');
    }
    write('');
    write('Look around:');
    write(`  npx stepline executions show ${description.name} --data ${dataDir}`);
    write(`  npx stepline executions list --data ${dataDir}`);
    write(`  task logs:        ${join(dataDir, 'task-logs', description.name)}`);
    write(`  commit statuses:  ${join(dataDir, 'statuses', `${description.name}.jsonl`)}`);
    write(
      `  push again:       cd ${work} && git commit --allow-empty -m again && git push   (while \`npx stepline serve --data ${dataDir} --port ${new URL(runtime.webhookUrl).port}\` runs)`,
    );
    return description.status === 'SUCCEEDED' || frontier ? 0 : 1;
  } finally {
    follower.close();
    await runtime.close();
  }
}
