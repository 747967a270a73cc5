import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStage } from '#functions/runner/run-stage.ts';
import { chooseSandbox, openSandbox, type SandboxMode } from '#functions/runner/sandbox.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { fakeSfn, newRun, putConfig, putSource, runnerDeps, stageInput, tempWorkdir } from './support.ts';

// CI runs as root on a machine with bubblewrap: both sandboxes are tested there. Elsewhere the
// ones this machine cannot make are skipped, and say why.
const auto = await chooseSandbox('auto');
const bwrapUsable = auto.kind === 'bwrap';
const root = process.getuid?.() === 0;
if (!bwrapUsable) console.warn(`skipping the bubblewrap sandbox tests: ${auto.reason}`);
if (!root) console.warn('skipping the separate-user sandbox tests: the runner must be root to switch users');

let s3: S3rverHandle;
let dataDir: string;
let serve: ChildProcess;
const webhookSecret = `webhook-secret-${randomBytes(8).toString('hex')}`;
const credentialsSecret = `credentials-secret-${randomBytes(8).toString('hex')}`;
const serveMarker = `${3000 + Math.floor(Math.random() * 1000)}.${Date.now() % 100000}`;

beforeAll(async () => {
  s3 = await startS3rver();
  // What a local runtime leaves around a build: an owner-only data directory with credentials, and
  // a `stepline serve` whose environment holds the webhook secret.
  dataDir = await mkdtemp(join(tmpdir(), 'stepline-data-'));
  await writeFile(join(dataDir, 'credentials.json'), JSON.stringify({ secretAccessKey: credentialsSecret }), {
    mode: 0o600,
  });
  serve = spawn('sleep', [serveMarker], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', STEPLINE_WEBHOOK_SECRET: webhookSecret },
    stdio: 'ignore',
  });
});
afterAll(async () => {
  serve.kill('SIGKILL');
  await s3.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Runs one build stage of `commands` in `sandbox`; the log lines, and whether it succeeded. */
async function build(sandbox: SandboxMode, commands: string[], env: Record<string, string> = {}) {
  const run = newRun();
  await putSource(s3.client, s3.bucket, run, { 'README.md': 'hello\n' });
  await putConfig(s3.client, s3.bucket, run, { build: { commands, env }, test: { commands: ['true'] } });
  const lines: string[] = [];
  const sfn = fakeSfn();
  const workdir = await tempWorkdir();
  const outcome = await runStage(
    stageInput(run, 'build', { taskToken: `runner-token-${run}` }),
    runnerDeps(s3.client, s3.bucket, sfn.sfn, workdir, lines, { sandbox }),
  ).then(
    () => 'succeeded',
    (error: unknown) => `failed: ${String(error)}`,
  );
  return { outcome, output: lines.join('\n'), token: `runner-token-${run}`, workdir };
}

/** Host pids whose command line contains `text` and that are not zombies. */
function livingWith(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (cmdline.includes(text) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function eventuallyNone(text: string): Promise<number[]> {
  for (let i = 0; i < 50 && livingWith(text).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return livingWith(text);
}

function uniqueSeconds(): string {
  return `${1000 + Math.floor(Math.random() * 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
}

const sandboxes = [
  { mode: 'bwrap' as const, available: bwrapUsable },
  { mode: 'user' as const, available: root },
];

describe.each(sandboxes)('the $mode sandbox', ({ mode, available }) => {
  // The runner's secrets in /proc/$PPID/environ and /proc/1/environ, as a real runner process holds
  // them: test/local/ecs/runner-process-tree.test.ts.
  it.skipIf(!available)("cannot open the runner's /proc/<pid>/environ", async () => {
    const { outcome, output } = await build(mode, [
      `if cat /proc/${process.pid}/environ >/dev/null 2>&1; then echo runner-env-"readable"; else echo runner-env-"hidden"; fi`,
    ]);

    expect(outcome).toBe('succeeded');
    expect(output).toContain('runner-env-hidden');
    expect(output).not.toContain('runner-env-readable');
  });

  it.skipIf(!available)(
    "cannot read another process's environment, such as serve's webhook secret",
    async () => {
      const { outcome, output } = await build(mode, [
        "for f in /proc/[0-9]*/environ; do cat $f 2>/dev/null | tr '\\0' '\\n'; done; true",
      ]);

      expect(outcome).toBe('succeeded');
      expect(output).not.toContain(webhookSecret);
    },
  );

  it.skipIf(!available)('cannot read the local data directory and its credentials', async () => {
    const { outcome, output } = await build(mode, [
      `cat ${dataDir}/credentials.json; ls ${dataDir} | sed 's/^/listed: /'; true`,
    ]);

    expect(outcome).toBe('succeeded');
    expect(output).not.toContain(credentialsSecret);
    expect(output).not.toContain('listed: credentials.json');
  });

  it.skipIf(!available)('ends setsid and double-forked processes with the stage', async () => {
    const detached = uniqueSeconds();
    const doubleForked = uniqueSeconds();

    const { outcome } = await build(mode, [
      `setsid sleep ${detached} >/dev/null 2>&1 </dev/null &`,
      `sh -c 'set -m; sleep ${doubleForked} >/dev/null 2>&1 </dev/null &' ; echo forked`,
    ]);

    expect(outcome).toBe('succeeded');
    expect(await eventuallyNone(`sleep ${detached}`)).toEqual([]);
    expect(await eventuallyNone(`sleep ${doubleForked}`)).toEqual([]);
  });

  it.skipIf(!available)(
    "still builds: writes the workspace, HOME and /tmp (kept across the stage's commands), with the stage's env",
    async () => {
      const { outcome, output, workdir } = await build(
        mode,
        [
          'echo built > out.txt && echo cached > "$HOME/.cache-file" && echo between > /tmp/between.txt',
          'cat /tmp/between.txt "$HOME/.cache-file" && echo "greeting=$GREETING" && node -e "console.log(\'node \' + process.version)"',
        ],
        { GREETING: 'hi' },
      );

      expect(outcome, output).toBe('succeeded');
      expect(await readFile(join(workdir, 'out.txt'), 'utf8')).toBe('built\n');
      expect(output).toContain('between');
      expect(output).toContain('cached');
      expect(output).toContain('greeting=hi');
      expect(output).toMatch(/node v\d+/);
    },
  );
});

describe('the bwrap sandbox', () => {
  it.skipIf(!bwrapUsable)("shows the commands none of this machine's processes", async () => {
    const { outcome, output } = await build('bwrap', [
      "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done",
    ]);

    expect(outcome).toBe('succeeded');
    expect(output).not.toContain(serveMarker);
    expect(output).toContain('sh -c');
  });

  it.skipIf(!bwrapUsable)('says in the stage log what the commands run in', async () => {
    const { output } = await build('bwrap', ['true']);

    expect(output).toMatch(/stepline: sandbox: bubblewrap .*PID.*namespaces/);
  });
});

describe('without a sandbox', () => {
  it('says loudly in the stage log what the commands can reach', async () => {
    const { outcome, output } = await build('none', ['true']);

    expect(outcome).toBe('succeeded');
    const warnings = output.split('\n').filter((line) => line.includes('NOT SANDBOXED'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`/proc/${process.pid}/environ`);
    expect(warnings[0]).toContain('task token');
    expect(warnings[0]).toContain('data directory');
  });

  it('still ends setsid and double-forked processes that keep their environment when the stage ends', async () => {
    const detached = uniqueSeconds();
    const doubleForked = uniqueSeconds();

    const { outcome } = await build('none', [
      `setsid sleep ${detached} >/dev/null 2>&1 </dev/null &`,
      `sh -c 'set -m; sleep ${doubleForked} >/dev/null 2>&1 </dev/null &' ; echo forked`,
    ]);

    expect(outcome).toBe('succeeded');
    expect(await eventuallyNone(`sleep ${detached}`)).toEqual([]);
    expect(await eventuallyNone(`sleep ${doubleForked}`)).toEqual([]);
  });
});

// CI runs as root; a developer's machine does not. This starts a runner-like process as nobody, so
// that the non-root path (bubblewrap as the runner's own user, no chown) runs in CI too.
const repoRoot = new URL('../../../', import.meta.url).pathname;
const nobodyCanRead = root && isReadableByOthers(repoRoot);
if (root && !nobodyCanRead)
  console.warn(`skipping the non-root bubblewrap test: nobody cannot read ${repoRoot}`);

describe('a runner that is not root', () => {
  it.skipIf(!bwrapUsable || !nobodyCanRead)(
    'sandboxes its commands in bubblewrap as its own user',
    async () => {
      const script = join(await mkdtemp(join(tmpdir(), 'stepline-nonroot-')), 'check.mts');
      await writeFile(
        script,
        [
          `import { openSandbox } from '${repoRoot}functions/runner/sandbox.ts';`,
          `import { runCommand } from '${repoRoot}functions/runner/exec.ts';`,
          "import { mkdtemp } from 'node:fs/promises';",
          "const workdir = await mkdtemp('/tmp/stepline-nonroot-work-');",
          "const sandbox = await openSandbox('auto', { workdir });",
          'await sandbox.prepare();',
          'console.log(sandbox.summary);',
          `await runCommand("id -u; echo written > f.txt && cat f.txt; ls /proc | grep -c '^[0-9]'; cat /proc/${serve.pid}/cmdline || echo no-serve", {`,
          "  cwd: workdir, env: { PATH: '/usr/bin:/bin' }, timeoutMs: 20_000, onLine: (l) => console.log(l),",
          '  signal: new AbortController().signal, sandbox,',
          '});',
          'await sandbox.close();',
        ].join('\n'),
      );
      await chmod(dirname(script), 0o755);

      const output = await new Promise<string>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script], {
          cwd: repoRoot,
          uid: 65534,
          gid: 65534,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
        });
        let text = '';
        child.stdout.on('data', (chunk) => {
          text += chunk;
        });
        child.stderr.on('data', (chunk) => {
          text += chunk;
        });
        child.on('close', () => resolve(text));
      });
      await rm(dirname(script), { recursive: true, force: true });

      expect(output).toMatch(/stepline: sandbox: bubblewrap \(bubblewrap works here\): own user, PID/);
      expect(output).not.toMatch(/ as nobody/);
      expect(output).toContain('65534');
      expect(output).toContain('written');
      expect(output).toContain('no-serve');
    },
  );
});

describe('the runner reading what the commands wrote', () => {
  it('does not follow a report symlinked to a file outside the workspace', async () => {
    const secretReport = join(dataDir, 'private-report.xml');
    await writeFile(
      secretReport,
      '<testsuite name="s" tests="1" failures="1"><testcase name="private-test-name"><failure message="private"/></testcase></testsuite>',
      { mode: 0o600 },
    );
    const run = newRun();
    await putSource(s3.client, s3.bucket, run, { 'README.md': 'hello\n' });
    await putConfig(s3.client, s3.bucket, run, {
      build: { commands: ['true'] },
      test: {
        commands: [`mkdir -p reports && ln -s ${secretReport} reports/junit.xml`],
        reports: ['reports/junit.xml'],
      },
    });
    const lines: string[] = [];
    const sfn = fakeSfn();

    await runStage(
      stageInput(run, 'test'),
      runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir(), lines),
    );

    const output = lines.join('\n');
    expect(output).toMatch(/skipped report reports\/junit.xml: .*ELOOP/);
    expect(output).not.toContain('private-test-name');
    expect(JSON.stringify(sfn.sent)).not.toContain('private-test-name');
  });
});

describe('the build user', () => {
  it.skipIf(!root)('refuses a workdir it cannot reach, naming it and what to change', async () => {
    const hidden = await mkdtemp(join(tmpdir(), 'stepline-private-'));
    await chmod(hidden, 0o700);
    const workdir = join(hidden, 'work');
    await mkdir(workdir);
    const sandbox = await openSandbox('user', { workdir });
    try {
      await expect(sandbox.prepare()).rejects.toThrow(
        new RegExp(`cannot reach the workdir ${workdir}.*STEPLINE_WORKDIR`),
      );
    } finally {
      await sandbox.close();
      await rm(hidden, { recursive: true, force: true });
    }
  });
});

describe('chooseSandbox', () => {
  it('refuses STEPLINE_SANDBOX=user to a runner that is not root, saying why', async () => {
    await expect(chooseSandbox('user', { uid: 1000 })).rejects.toThrow(
      /needs a runner running as root.*uid 1000/,
    );
  });

  it('drops a root runner to stepline-build when /etc/passwd has it, else to nobody', async () => {
    const withBuildUser = 'root:x:0:0::/root:/bin/sh\nstepline-build:x:1001:1001::/home/b:/bin/sh\n';

    const user = await chooseSandbox('user', { uid: 0, passwd: withBuildUser });
    const nobody = await chooseSandbox('user', { uid: 0, passwd: 'root:x:0:0::/root:/bin/sh\n' });

    expect(user).toMatchObject({ kind: 'user', user: { name: 'stepline-build', uid: 1001, gid: 1001 } });
    expect(nobody).toMatchObject({ kind: 'user', user: { name: 'nobody', uid: 65534, gid: 65534 } });
  });
});

function isReadableByOthers(dir: string): boolean {
  for (let path = dir.replace(/\/$/, ''); path !== ''; path = path.slice(0, path.lastIndexOf('/'))) {
    if ((statSync(path).mode & 0o005) !== 0o005) return false;
  }
  return true;
}
