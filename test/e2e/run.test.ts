import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, stepline } from './cli.ts';

const example = join(repoRoot, 'examples', 'hello-service');

interface RunJson {
  name: string;
  status: string;
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

  it('builds and tests examples/hello-service for real and stops at the first step this version lacks', async () => {
    const { code, stdout } = await stepline(['run', example, '--data', dataDir]);

    expect(stdout).toMatch(/✓ FetchSource/);
    expect(stdout).toMatch(/✓ Build/);
    expect(stdout).toMatch(/✓ Test/);
    expect(stdout).toMatch(/✗ PublishImage .*NotImplementedError/);
    expect(code).toBe(1);
  });

  it('restores the build cache on a second run of the same lockfile', async () => {
    const { stdout } = await stepline(['run', example, '--data', dataDir, '--json']);
    const run = JSON.parse(stdout) as RunJson;
    const log = await readFile(join(dataDir, 'task-logs', run.name, 'Build.log'), 'utf8');

    expect(log).toMatch(/cache restored/);
  });

  it('prints the final execution as JSON with each state and the failure', async () => {
    const { code, stdout } = await stepline(['run', example, '--data', dataDir, '--json']);
    const run = JSON.parse(stdout) as RunJson;

    expect(code).toBe(1);
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('NotImplementedError');
    expect(run.states.map((s) => s.name).slice(0, 6)).toEqual([
      'PushReceived',
      'ReportPending',
      'FetchSource',
      'Build',
      'Test',
      'PublishImage',
    ]);
    expect(run.states.find((s) => s.name === 'Test')?.outcome).toBe('succeeded');
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
