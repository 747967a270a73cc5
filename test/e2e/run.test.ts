import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, repoRoot, stepline } from './cli.ts';

const example = join(repoRoot, 'examples', 'hello-service');

interface RunJson {
  name: string;
  status: string;
  image?: { uri: string; digest: string };
  production?: { url?: string; rolloutState?: string };
  approval?: { decision: string; approver: string };
  states: { name: string; outcome: string; error?: string }[];
  error?: string;
  cause?: string;
  output?: unknown;
}

describe('stepline run', () => {
  let dataDir: string;
  let work: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-e2e-data-'));
    work = await mkdtemp(join(tmpdir(), 'stepline-e2e-work-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('stops at RequestApproval with the link, and goes to production after stepline approve from another process', async () => {
    const child = spawn(process.execPath, [cliPath, 'run', example, '--data', dataDir], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const linkSeen = new Promise<string>((resolveLink) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const id = /npx stepline approve (\S+)/.exec(stdout)?.[1];
        if (id) resolveLink(id);
      });
    });
    const exited = new Promise<number | null>((resolveExit) => child.once('close', resolveExit));

    const id = await linkSeen;
    expect(stdout).toMatch(/✓ PublishImage .*image sha256:/);
    expect(stdout).toMatch(/✓ CheckStaging .*completed, serving http:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).toMatch(/http:\/\/127\.0\.0\.1:\d+\/approvals\/\S+\?approver=/);
    expect(stdout).not.toMatch(/▶ DeployProduction/);
    const approve = await stepline(['approve', id, '--data', dataDir, '--comment', 'ship it']);

    expect(approve.code).toBe(0);
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/✓ RequestApproval .*approved by release-manager@example\.com: "ship it"/);
    expect(stdout).toMatch(/✓ CheckProduction .*completed/);
    expect(stdout).toMatch(/^SUCCEEDED in /m);
    expect(stdout).toMatch(/^ {2}image: {6}127\.0\.0\.1:\d+\/local\/hello-service@sha256:[0-9a-f]{64}$/m);
    expect(stdout).toMatch(/^ {2}production: http:\/\/127\.0\.0\.1:\d+/m);
  });

  it('restores the build cache on a second run of the same lockfile', async () => {
    const { stdout } = await stepline(['run', example, '--data', dataDir, '--json', '--auto-approve']);
    const run = JSON.parse(stdout) as RunJson;
    const log = await readFile(join(dataDir, 'task-logs', run.name, 'Build.log'), 'utf8');

    expect(log).toMatch(/cache restored/);
  });

  it('prints the final execution as JSON with the image by digest, production and the approval', async () => {
    const { code, stdout } = await stepline(['run', example, '--data', dataDir, '--json', '--auto-approve']);
    const run = JSON.parse(stdout) as RunJson;

    expect(code).toBe(0);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.image?.uri).toBe(`${run.image?.uri.split('@')[0]}@${run.image?.digest}`);
    expect(run.image?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run.production).toMatchObject({ rolloutState: 'COMPLETED', url: expect.stringMatching(/^http:/) });
    expect(run.approval).toMatchObject({ decision: 'approve', approver: 'release-manager@example.com' });
    expect(run.states.map((s) => s.name)).toContain('ProductionRolledOut');
  });

  it('fails at Test with exit 1 and names the failing test', async () => {
    const broken = join(work, 'hello-broken');
    await cp(example, broken, { recursive: true });
    const greeting = join(broken, 'src', 'greeting.js');
    await writeFile(greeting, (await readFile(greeting, 'utf8')).replace('`Hello, $', '`Bye, $'));

    const { code, stdout } = await stepline(['run', broken, '--data', dataDir]);

    expect(code).toBe(1);
    expect(stdout).toMatch(/✗ Test .*TestsFailedError/);
    expect(stdout).toContain('greets a name');
    expect(stdout).not.toMatch(/▶ PublishImage/);
  });

  it('keeps the history readable from another process with stepline executions show', async () => {
    const { stdout: listed } = await stepline(['executions', 'list', '--data', dataDir, '--json']);
    const [newest] = JSON.parse(listed) as { name: string }[];

    const { code, stdout } = await stepline(['executions', 'show', newest!.name, '--data', dataDir]);

    expect(code).toBe(0);
    expect(stdout).toMatch(/✗ Test/);
    expect(stdout).toContain('TestsFailedError');
  });

  it('carries the image digest in --json when a deployment fails after PublishImage', async () => {
    const crashing = join(work, 'hello-crashing');
    await cp(example, crashing, { recursive: true });
    const yml = join(crashing, 'stepline.yml');
    await writeFile(
      yml,
      (await readFile(yml, 'utf8')).replace(/cmd: .*/, 'cmd: [node, -e, "process.exit(3)"]'),
    );

    const { code, stdout } = await stepline(['run', crashing, '--data', dataDir, '--json']);
    const run = JSON.parse(stdout) as RunJson;

    expect(code).toBe(1);
    expect(run.error).toBe('DeploymentFailedError');
    expect(run.image?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('fails at FetchSource with every problem of an invalid stepline.yml', async () => {
    const bad = join(work, 'hello-bad-run-config');
    await cp(example, bad, { recursive: true });
    await writeFile(join(bad, 'stepline.yml'), 'build:\n  commands: [1]\ntest:\n  commands: []\n');

    const { code, stdout } = await stepline(['run', bad, '--data', dataDir]);

    expect(code).toBe(1);
    expect(stdout).toMatch(/✗ FetchSource .*PipelineConfigError/);
    expect(stdout).toMatch(/build\.commands\[0\]/);
    expect(stdout).not.toMatch(/▶ Build/);
  });

  it('prints a repository name with control characters escaped, in the run and in executions list', async () => {
    // The repository is named after its directory; this one sets the terminal's title when printed raw.
    const hostile = join(work, 'hello-\u001b]0;pwned\u0007');
    await cp(example, hostile, { recursive: true });
    await writeFile(join(hostile, 'stepline.yml'), 'build:\n  commands: [1]\ntest:\n  commands: []\n');

    const run = await stepline(['run', hostile, '--data', dataDir]);
    const { stdout: listed } = await stepline(['executions', 'list', '--data', dataDir]);

    expect(run.code).toBe(1);
    expect(run.stdout).toContain('local/hello-\\x1b]0;pwned\\x07 ');
    expect(listed).toContain('local/hello-\\x1b]0;pwned\\x07 ');
    for (const text of [run.stdout, listed]) {
      expect(text).not.toContain('\u001b');
      expect(text).not.toContain('\u0007');
    }
  });

  it('exits 2 when the repository directory does not exist', async () => {
    const { code, stderr } = await stepline(['run', join(work, 'nowhere'), '--data', dataDir]);

    expect(code).toBe(2);
    expect(stderr).toContain('does not exist');
  });
});

describe('stepline validate', () => {
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'stepline-e2e-validate-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('exits 2 and prints every problem with its path', async () => {
    const bad = join(work, 'hello-bad-config');
    await cp(example, bad, { recursive: true });
    await writeFile(join(bad, 'stepline.yml'), 'build:\n  commands: [1]\ntest:\n  commands: []\n');

    const { code, stderr } = await stepline(['validate', bad]);

    expect(code).toBe(2);
    expect(stderr).toMatch(/build\.commands\[0\]/);
    expect(stderr).toMatch(/test\.commands/);
  });
});
