import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLinks } from '#local/ses/mime.ts';
import { type ApprovalHarness, emailsSent, startApprovalHarness } from '../local/approval/harness.ts';

const chromiumPath = '/usr/bin/chromium';
const available = existsSync(chromiumPath);
if (!available)
  console.log(
    `skipping the approval browser test: no Chromium at ${chromiumPath} (apt-get install chromium)`,
  );

/** Screenshots of what an approver sees, kept as test artifacts (gitignored). */
const artifacts = join(process.cwd(), 'test-results');

describe.skipIf(!available)('the approval page in a real browser', () => {
  let browser: Browser;
  let harness: ApprovalHarness;

  beforeAll(async () => {
    await mkdir(artifacts, { recursive: true });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    harness = await startApprovalHarness();
  });

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
  });

  it('opens the link from the .eml, shows what ships, and Approve sends the run to production', async () => {
    const emails = emailsSent(harness.ses, 2);
    const executionArn = await harness.start();
    const [first] = await emails;
    const mail = await simpleParser(await readFile(first!.path));
    const link = findLinks(mail.text).find((url) => url.includes('/approvals/'))!;
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('request', (request) => {
      if (!request.url().startsWith(harness.server.url)) problems.push(`external request ${request.url()}`);
    });

    const response = await page.goto(link);
    const heading = page.getByRole('heading', { level: 1 });

    expect(response?.status()).toBe(200);
    await expect.poll(() => heading.textContent()).toBe('Approve local/hello main for production?');
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('You are deciding as alice@example.com');
    expect(text).toContain(`127.0.0.1:5000/local/hello@sha256:${'5e'.repeat(32)}`);
    expect(text).toContain('3 passed, 0 failed, 0 skipped (3 in all)');
    expect(text).toContain('rolled out to hello-staging in local');
    expect(await page.getByLabel('Comment').count()).toBe(1);
    const width = Number(await page.evaluate('document.documentElement.scrollWidth'));
    expect(width).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(artifacts, 'approval-page.png'), fullPage: true });
    const wide = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await wide.goto(link);
    await wide.screenshot({ path: join(artifacts, 'approval-page-desktop.png'), fullPage: true });
    await wide.close();
    expect(harness.engine.describeExecution(executionArn).status).toBe('RUNNING');

    await page.getByLabel('Comment').fill('Looks good on staging.');
    await Promise.all([
      page.waitForURL(/\/approvals\//),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    await expect.poll(() => heading.textContent()).toMatch(/^Approved: local\/hello main @ [0-9a-f]{12}$/);
    await page.screenshot({ path: join(artifacts, 'approval-decided.png'), fullPage: true });
    const final = await harness.engine.waitForExecution(executionArn);

    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output!).approval).toMatchObject({
      decision: 'approve',
      approver: 'alice@example.com',
      comment: 'Looks good on staging.',
    });
    expect(problems).toEqual([]);

    const desktop = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const again = await desktop.goto(link);
    expect(again?.status()).toBe(410);
    await desktop.screenshot({ path: join(artifacts, 'approval-already-decided.png'), fullPage: true });
    await context.close();
  });
});
