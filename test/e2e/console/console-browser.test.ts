import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGitHubPushPayload, deliverGitHubPush, zeroSha } from '#local/git/push-payload.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { LocalStepFunctions } from '#local/sfn/engine.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { createLogger } from '#shared/logger.ts';
import { createGitRepo, type GitRepo } from '../../helpers/git-repo.ts';
import { repoRoot } from '../cli.ts';

const chromiumPath = '/usr/bin/chromium';
const available = existsSync(chromiumPath);
if (!available)
  console.log(
    `skipping the console browser tests: no Chromium at ${chromiumPath} (apt-get install chromium)`,
  );

/** What users see, kept as test artifacts (gitignored): look at them. */
const artifacts = join(repoRoot, 'test-artifacts', 'console');
const secret = 'console-e2e-secret';
/** The engine can redrive (helper D's RedriveExecution); until then the console hides the button. */
const redrivable =
  typeof (LocalStepFunctions.prototype as unknown as { redriveExecution?: unknown }).redriveExecution ===
  'function';
if (!redrivable) console.log('skipping the console Redrive test: this engine has no redriveExecution');

/** examples/hello-service, with a build that first prints a line every 0.6 s (the log to stream). */
async function helloService(repo: GitRepo, buildPrefix: string[]): Promise<void> {
  const example = join(repoRoot, 'examples', 'hello-service');
  await cp(example, repo.dir, {
    recursive: true,
    filter: (source) =>
      !/[/\\](node_modules|dist|reports|\.npm-cache|\.build-cache)([/\\]|$)/.test(
        source.slice(example.length),
      ),
  });
  const yml = await readFile(join(repo.dir, 'stepline.yml'), 'utf8');
  await writeFile(
    join(repo.dir, 'stepline.yml'),
    yml.replace(
      'build:\n  commands:\n',
      `build:\n  commands:\n${buildPrefix.map((c) => `    - ${JSON.stringify(c)}\n`).join('')}`,
    ),
  );
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage });
}

describe.skipIf(!available)('the console in a real browser, during a real local run', () => {
  let browser: Browser;
  let runtime: LocalRuntime;
  let dataDir: string;
  let repo: GitRepo;
  let evil: Server | undefined;
  let stoppedExecution = '';
  /** The commit the first test sent to production. */
  let firstCommit = '';

  beforeAll(async () => {
    await mkdir(artifacts, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-console-e2e-'));
    repo = await createGitRepo();
    browser = await chromium.launch({
      executablePath: chromiumPath,
      // Chromium's own sandbox cannot start as root (CI runs as root).
      args: [
        ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
        '--headless',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    runtime = await startLocalRuntime({
      dataDir,
      config: localDefaultConfig(secret),
      port: 0,
      logger: createLogger('stepline-console-e2e'),
      waitMs: 300,
      console: { port: 0 },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await runtime?.close();
    evil?.close();
    await repo?.remove();
    await rm(dataDir, { recursive: true, force: true });
  });

  const push = async (deliveryId: string, before: string) => {
    const after = (await repo.git('rev-parse', 'HEAD')).trim();
    const payload = await buildGitHubPushPayload({
      repoDir: repo.dir,
      fullName: 'acme/hello',
      ref: 'refs/heads/main',
      before,
      after,
      pusher: { name: 'Ada Lovelace', email: 'ada@example.com' },
    });
    const reply = await deliverGitHubPush(
      `${runtime.webhookUrl}/webhooks/github`,
      secret,
      payload,
      deliveryId,
    );
    expect(reply.status).toBe(202);
    return { after, executionName: (reply.body as { executionName: string }).executionName };
  };

  it('shows a push live from the list to production, streams the log, and Approve works from the execution page', async () => {
    await helloService(repo, [
      'for i in 1 2 3 4 5 6 7 8 9 10; do echo "compiling part $i of 10"; sleep 0.6; done',
    ]);
    await repo.commit({}, 'Greet in the console test');
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const outside: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(runtime.consoleUrl!)) outside.push(request.url());
    });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(runtime.consoleOpenUrl!);
    await expect.poll(() => page.getByText('No executions yet').count()).toBe(1);
    expect(page.url()).not.toContain('token=');
    // Set on this page; still there later only if the page was never reloaded.
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });

    const { after, executionName } = await push('console-1', zeroSha);
    firstCommit = after;
    const row = page.locator(`tr[data-execution="${executionName}"]`);
    await row.waitFor({ timeout: 15_000 });

    expect(await row.getAttribute('data-status')).toBe('RUNNING');
    expect(await row.textContent()).toContain('acme/hello');
    expect(await row.textContent()).toContain(after.slice(0, 12));
    expect(await row.textContent()).toContain('Greet in the console test');
    expect(await row.textContent()).toContain('Ada Lovelace');
    await shot(page, 'list-running');

    await row.locator('a.repo').click();
    const build = page.locator('g[data-state="Build"]');
    await expect.poll(() => build.getAttribute('data-outcome'), { timeout: 60_000 }).toBe('running');
    expect(await page.locator('g[data-state="FetchSource"]').getAttribute('data-outcome')).toBe('succeeded');
    expect(await page.locator('g[data-state="DeployProduction"]').getAttribute('data-outcome')).toBe(
      'notReached',
    );
    const log = page.locator('pre.log');
    await expect.poll(() => log.textContent(), { timeout: 30_000 }).toContain('compiling part 2 of 10');
    const early = (await log.textContent()) ?? '';
    await shot(page, 'execution-build-running');
    await expect.poll(() => log.textContent(), { timeout: 30_000 }).toContain('compiling part 10 of 10');

    expect(early).not.toContain('compiling part 10 of 10');

    const approve = page.getByRole('button', { name: 'Approve', exact: true });
    await approve.waitFor({ timeout: 240_000 });
    expect(await page.locator('g[data-state="RequestApproval"]').getAttribute('data-outcome')).toBe(
      'running',
    );
    expect(await page.locator('g[data-state="CheckStaging"]').getAttribute('data-outcome')).toBe('succeeded');
    expect(await page.locator('[data-environment="staging"]').textContent()).toMatch(
      /http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(await page.locator('.tests').textContent()).toMatch(/0 failed.*passed/);
    expect(await page.locator('.results').textContent()).toMatch(/sha256:[0-9a-f]{64}/);
    expect(await page.locator('.state-card').textContent()).toContain('<task token');
    expect(await page.content()).not.toMatch(/\+\/\+\/[A-Za-z0-9+/]{679}=/);
    await shot(page, 'execution-approval-pending');

    await page.getByLabel('Comment').fill('Ship it <b>now</b>');
    await approve.click();
    const status = page.locator('h1 .badge');
    await expect.poll(() => status.textContent(), { timeout: 180_000 }).toBe('Succeeded');

    expect(await page.locator('.approval').textContent()).toContain(
      'Approved by release-manager@example.com',
    );
    expect(await page.locator('.approval blockquote').textContent()).toBe('Ship it <b>now</b>');
    expect(await page.locator('[data-environment="production"]').textContent()).toMatch(
      /http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(await page.locator('g[data-state="PipelineSucceeded"]').getAttribute('data-outcome')).toBe(
      'succeeded',
    );
    expect(await page.locator('g[data-state="PipelineFailed"]').getAttribute('data-outcome')).toBe(
      'notReached',
    );
    const final = runtime.engine.describeExecution(runtime.engine.executionArnOf(executionName));
    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output!).approval).toMatchObject({
      decision: 'approve',
      comment: 'Ship it <b>now</b>',
    });
    await shot(page, 'execution-succeeded');

    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'execution-succeeded-narrow', false);
    await page.locator('.graph-card').scrollIntoViewIfNeeded();
    await shot(page, 'execution-succeeded-narrow-graph', false);
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth'));
    expect(overflow).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1440, height: 1000 });

    await page.getByRole('link', { name: 'Services' }).click();
    const production = page.locator('tr[data-environment="production"]');
    await expect.poll(() => production.textContent(), { timeout: 15_000 }).toContain(after.slice(0, 12));
    expect(await production.textContent()).toMatch(/2\/2 healthy/);
    await shot(page, 'services');

    await page.getByRole('link', { name: 'Executions' }).click();
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('SUCCEEDED');
    await shot(page, 'list-succeeded');
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
    expect(outside).toEqual([]);
    expect(problems).toEqual([]);
  }, 600_000);

  it('Stop ends a running execution from its page, and a cross-site form cannot', async () => {
    await repo.commit(
      { 'stepline.yml': 'build:\n  commands: ["sleep 120"]\ntest:\n  commands: ["true"]\n' },
      'A slow build',
    );
    const { executionName } = await push('console-2', (await repo.git('rev-parse', 'HEAD~1')).trim());
    const executionArn = runtime.engine.executionArnOf(executionName);
    // Another site the user visits: its form posts to the console's Stop (a classic CSRF).
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        `<form method="POST" action="${runtime.consoleUrl}/api/executions/${executionName}/stop"><input name="x" value="1"></form><script>document.forms[0].submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => evil!.listen(0, '127.0.0.1', resolve));
    const evilUrl = `http://127.0.0.1:${(evil.address() as { port: number }).port}/`;
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    const page = await context.newPage();
    await page.goto(runtime.consoleOpenUrl!);
    await page.goto(`${runtime.consoleUrl}/executions/${executionName}`);
    await expect
      .poll(() => page.locator('g[data-state="Build"]').getAttribute('data-outcome'), { timeout: 60_000 })
      .toBe('running');

    const attack = await context.newPage();
    const refused = attack.waitForResponse((response) => response.url().endsWith('/stop'));
    await attack.goto(evilUrl);
    expect((await refused).status()).toBe(401);
    expect(runtime.engine.describeExecution(executionArn).status).toBe('RUNNING');

    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    const status = page.locator('h1 .badge');
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toBe('Stopped');

    expect(runtime.engine.describeExecution(executionArn).status).toBe('ABORTED');
    expect(await page.locator('g[data-state="Build"]').getAttribute('data-outcome')).toBe('cancelled');
    expect(await page.getByRole('button', { name: 'Stop', exact: true }).count()).toBe(0);
    await shot(page, 'execution-stopped');
    stoppedExecution = executionName;
    await context.close();
  }, 180_000);

  it.skipIf(!redrivable)(
    'Redrive restarts a stopped execution at the state where it stopped',
    async () => {
      const executionArn = runtime.engine.executionArnOf(stoppedExecution);
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      await page.goto(runtime.consoleOpenUrl!);
      await page.goto(`${runtime.consoleUrl}/executions/${stoppedExecution}`);

      await page.getByRole('button', { name: 'Redrive', exact: true }).click();
      const build = page.locator('g[data-state="Build"]');
      await expect.poll(() => build.getAttribute('data-outcome'), { timeout: 30_000 }).toBe('running');

      expect(await page.locator('h1 .badge').textContent()).toBe('Running');
      expect(runtime.engine.describeExecution(executionArn).status).toBe('RUNNING');
      expect(await page.locator('g[data-state="FetchSource"]').getAttribute('data-outcome')).toBe(
        'succeeded',
      );
      expect(await page.locator('.t-bar.node-cancelled').count()).toBe(1);
      await page.locator('.live').waitFor({ timeout: 10_000 });
      await shot(page, 'execution-redriven');
      await page.getByRole('button', { name: 'Stop', exact: true }).click();
      await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 30_000 }).toBe('Stopped');
      await page.close();
    },
    120_000,
  );

  it('Rollback on the services page puts the previous revision back on staging', async () => {
    await helloService(repo, []);
    await repo.commit({}, 'Greet <img src=x onerror="document.title=1"> again');
    const { after, executionName } = await push('console-3', (await repo.git('rev-parse', 'HEAD~1')).trim());
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(runtime.consoleOpenUrl!);
    await page.goto(`${runtime.consoleUrl}/executions/${executionName}`);
    expect(await page.locator('.commit-line .message').textContent()).toBe(
      'Greet <img src=x onerror="document.title=1"> again',
    );
    expect(await page.locator('.commit-line img').count()).toBe(0);
    await page.getByRole('button', { name: 'Approve', exact: true }).click({ timeout: 120_000 });
    await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 120_000 }).toBe('Succeeded');
    await page.getByRole('link', { name: 'Services' }).click();
    const staging = page.locator('tr[data-environment="staging"]');
    await expect.poll(() => staging.textContent(), { timeout: 15_000 }).toContain(after.slice(0, 12));

    await staging.getByRole('button', { name: 'Rollback…' }).click();
    await staging.getByRole('button', { name: 'Roll back', exact: true }).click();
    await expect.poll(() => staging.textContent(), { timeout: 90_000 }).toContain(firstCommit.slice(0, 12));
    await expect
      .poll(() => page.locator('.rollback').first().textContent(), { timeout: 30_000 })
      .toContain('succeeded');

    expect(await page.locator('.rollback').first().textContent()).toContain('Rolled back: staging');
    expect(await page.locator('tr[data-environment="production"]').textContent()).toContain(
      after.slice(0, 12),
    );
    await shot(page, 'services-rolled-back');
    await page.close();
  }, 300_000);

  it('filters the list by status and branch, keeping the filter in the address', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 800 } });
    await page.goto(runtime.consoleOpenUrl!);
    const rows = page.locator('tr[data-execution]');
    await expect.poll(() => rows.count()).toBe(3);

    await page.getByLabel('Status').selectOption('ABORTED');
    await expect.poll(() => rows.count()).toBe(1);

    expect(await rows.first().getAttribute('data-status')).toBe('ABORTED');
    expect(page.url()).toContain('status=ABORTED');
    await shot(page, 'list-filtered');
    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Branch').selectOption('main');
    await expect.poll(() => rows.count()).toBe(3);
    await page.close();
  });

  it('a run whose tests fail shows the failures first, and the failed state caught', async () => {
    const broken = await createGitRepo();
    try {
      const report =
        '<testsuite name="math" tests="3" failures="1"><testcase classname="math" name="adds"/><testcase classname="math" name="subtracts"/><testcase classname="math" name="divides by zero"><failure message="expected Infinity, got NaN">at divide (math.js:3)</failure></testcase></testsuite>';
      const after = await broken.commit(
        {
          'stepline.yml': `build:\n  commands: ["true"]\ntest:\n  commands: [${JSON.stringify(`printf '%s' '${report}' > junit.xml; exit 1`)}]\n  reports: [junit.xml]\n`,
        },
        'Divide',
      );
      const payload = await buildGitHubPushPayload({
        repoDir: broken.dir,
        fullName: 'acme/broken',
        ref: 'refs/heads/main',
        before: zeroSha,
        after,
      });
      const reply = await deliverGitHubPush(
        `${runtime.webhookUrl}/webhooks/github`,
        secret,
        payload,
        'console-4',
      );
      const { executionName } = reply.body as { executionName: string };
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      await page.goto(runtime.consoleOpenUrl!);
      await page.goto(`${runtime.consoleUrl}/executions/${executionName}`);
      await expect.poll(() => page.locator('h1 .badge').textContent(), { timeout: 120_000 }).toBe('Failed');

      const tests = (await page.locator('.tests').textContent()) ?? '';
      expect(tests).toContain('divides by zero');
      expect(tests).toContain('expected Infinity, got NaN');
      expect(tests.indexOf('divides by zero')).toBeLessThan(tests.indexOf('2 passed') >>> 0);
      expect(await page.locator('g[data-state="Test"]').getAttribute('data-outcome')).toBe('caught');
      expect(await page.locator('g[data-state="PipelineFailed"]').getAttribute('data-outcome')).toBe(
        'failed',
      );
      expect(await page.locator('.state-card h2').textContent()).toBe('State Test');
      await shot(page, 'execution-tests-failed');
      await page.close();
    } finally {
      await broken.remove();
    }
  }, 180_000);

  it('without its token the console shows where to find it, and its API refuses the page', async () => {
    const context = await browser.newContext({ viewport: { width: 1024, height: 700 } });
    const page = await context.newPage();

    await page.goto(runtime.consoleUrl!);
    const status = await page.evaluate(async () => (await fetch('/api/executions')).status);

    expect(await page.getByText('This console needs its token.').count()).toBe(1);
    expect(status).toBe(401);
    await shot(page, 'no-token');
    await context.close();
  });
});
