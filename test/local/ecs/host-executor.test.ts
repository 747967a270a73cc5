import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type HostExecutorOptions, launchOnHost } from '#local/ecs/host-executor.ts';
import { TaskInputError } from '#shared/errors.ts';

/**
 * Stands in for the bundled runner: prints LINES lines to stdout and to stderr, then GREETING if
 * set, then exits with EXIT_CODE as soon as its output is written (part of it still in the pipes).
 */
const fakeRunner = `
const lines = Number(process.env.LINES ?? 0);
const pad = 'x'.repeat(100);
for (let i = 0; i < lines; i++) {
  process.stdout.write(\`out \${i} \${pad}\\n\`);
  process.stderr.write(\`err \${i} \${pad}\\n\`);
}
if (process.env.GREETING !== undefined) process.stdout.write(\`GREETING=\${process.env.GREETING}\\n\`);
process.exitCode = Number(process.env.EXIT_CODE ?? 0);
`;

/** Characters the fake runner writes for `lines` lines on each stream. */
function expectedLogLength(lines: number): number {
  let length = 0;
  for (let i = 0; i < lines; i++) length += 2 * `out ${i} ${'x'.repeat(100)}\n`.length;
  return length;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'stepline-host-executor-'));
  dirs.push(dir);
  const runnerPath = join(dir, 'runner.mjs');
  writeFileSync(runnerPath, fakeRunner);
  const logDir = join(dir, 'task-logs');
  return { runnerPath, logDir, logPath: join(logDir, 'push-1', 'Build.log') };
}

function runTaskInput(environment: Record<string, string>) {
  return {
    Cluster: 'arn:aws:ecs:local:000000000000:cluster/stepline',
    TaskDefinition: 'stepline-runner',
    Overrides: {
      ContainerOverrides: [
        {
          Name: 'runner',
          Environment: Object.entries(environment).map(([Name, Value]) => ({ Name, Value })),
        },
      ],
    },
  };
}

type ExitInfo = Parameters<NonNullable<HostExecutorOptions['onExit']>>[0];

/** Launches the fake runner and resolves once `onExit` reports it ended. */
async function launchAndWait(
  environment: Record<string, string>,
  paths: { runnerPath: string; logDir: string },
): Promise<ExitInfo> {
  let reportExit!: (info: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((resolve) => {
    reportExit = resolve;
  });
  await launchOnHost(
    runTaskInput(environment),
    { executionName: 'push-1', stateName: 'Build', signal: new AbortController().signal },
    { ...paths, taskEnv: {}, onExit: reportExit },
  );
  return exited;
}

describe('launchOnHost', () => {
  it('keeps every line the runner wrote in the task log, including those written right before it exited', async () => {
    const paths = setup();

    await launchAndWait({ LINES: '20000' }, paths);

    // stdout and stderr chunks interleave in the log, so count newlines rather than whole lines.
    const log = readFileSync(paths.logPath, 'utf8');
    expect(log.split('\n').length - 1).toBe(40_000);
    expect(log.length).toBe(expectedLogLength(20_000));
  });

  it('keeps reading the runner and reports its exit when the task log cannot be written', async () => {
    const paths = setup();
    mkdirSync(paths.logPath, { recursive: true });

    const exit = await launchAndWait({ LINES: '20000', EXIT_CODE: '2' }, paths);

    expect(exit.code).toBe(2);
  });

  it('reports the exit code of the runner to onExit', async () => {
    const paths = setup();

    const exit = await launchAndWait({ EXIT_CODE: '3' }, paths);

    expect(exit).toEqual({ executionName: 'push-1', stateName: 'Build', code: 3, signal: null });
  });

  it('refuses a RunTask input without Overrides.ContainerOverrides with TaskInputError naming the field', async () => {
    const paths = setup();
    const input = { Cluster: 'stepline', TaskDefinition: 'stepline-runner', Overrides: {} };

    const launch = launchOnHost(
      input,
      { executionName: 'push-1', stateName: 'Build', signal: new AbortController().signal },
      { ...paths, taskEnv: {} },
    );

    await expect(launch).rejects.toThrow(TaskInputError);
    await expect(launch).rejects.toThrow(/Overrides\.ContainerOverrides/);
  });

  it('launches nothing when the task was aborted before the launch', async () => {
    const paths = setup();
    const controller = new AbortController();
    controller.abort(new Error('the task timed out'));

    const launch = launchOnHost(
      runTaskInput({}),
      { executionName: 'push-1', stateName: 'Build', signal: controller.signal },
      { ...paths, taskEnv: {} },
    );

    await expect(launch).rejects.toThrow('the task timed out');
    expect(existsSync(paths.logPath)).toBe(false);
  });

  it('gives the runner the container override environment', async () => {
    const paths = setup();

    await launchAndWait({ GREETING: 'hello from the override' }, paths);

    expect(readFileSync(paths.logPath, 'utf8')).toContain('GREETING=hello from the override\n');
  });
});
