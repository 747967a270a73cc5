import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsoleAssets } from '#local/console/assets.ts';
import { type ConsoleServer, startConsoleServer } from '#local/console/server.ts';
import { LocalStepFunctions } from '#local/sfn/engine.ts';
import { storeFinishedCopies } from '../../helpers/stored-executions.ts';

const chromiumPath = '/usr/bin/chromium';
const available = existsSync(chromiumPath);
if (!available)
  console.log(
    `skipping the console paging browser test: no Chromium at ${chromiumPath} (apt-get install chromium)`,
  );

const definition = JSON.stringify({
  StartAt: 'Hello',
  States: { Hello: { Type: 'Pass', Next: 'Done' }, Done: { Type: 'Succeed' } },
});
const push = (n: number) =>
  JSON.stringify({
    repository: { fullName: 'acme/paged' },
    refName: 'main',
    refType: 'branch',
    headCommit: { message: `Change ${n}` },
  });

describe.skipIf(!available)('the console list in a real browser, with more executions than a page', () => {
  let browser: Browser;
  let dataDir: string;
  let engine: LocalStepFunctions;
  let server: ConsoleServer;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-console-paging-'));
    engine = new LocalStepFunctions({ dataDir, stateMachineName: 'console-paging', definition, tasks: {} });
    const template = await engine.startExecution({ name: 'template', input: push(0) });
    await engine.waitForExecution(template.executionArn);
    // 60 finished executions, a minute apart, all older than the template; every tenth FAILED.
    storeFinishedCopies(dataDir, engine, 'template', {
      count: 60,
      name: (n) => `old-${String(n).padStart(2, '0')}`,
      input: push,
      durationMs: 30_000,
    });
    server = await startConsoleServer({
      dataDir,
      engine,
      definition,
      token: 'paging-token',
      assets: await buildConsoleAssets(join(dataDir, 'runtime', 'console')),
      webhookUrl: () => 'http://127.0.0.1:1',
    });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--headless', '--disable-gpu'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await engine?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('shows the newest 50, loads the older ones on request, adds a new run live, and filters on the server', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(server.openUrl);
    const rows = page.locator('tr[data-execution]');
    const older = page.getByRole('button', { name: 'Older executions' });

    await expect.poll(() => rows.count()).toBe(50);
    expect(await rows.first().getAttribute('data-execution')).toBe('template');
    expect(await rows.last().getAttribute('data-execution')).toBe('old-12');
    await older.click();
    await expect.poll(() => rows.count()).toBe(61);
    expect(await rows.last().getAttribute('data-execution')).toBe('old-01');
    expect(await older.count()).toBe(0);

    const started = await engine.startExecution({ name: 'newest', input: push(99) });
    await engine.waitForExecution(started.executionArn);
    await expect.poll(() => rows.first().getAttribute('data-execution')).toBe('newest');

    await page.getByLabel('Status').selectOption('FAILED');
    await expect.poll(() => rows.count()).toBe(6);
    expect(page.url()).toContain('status=FAILED');
    expect(await older.count()).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
