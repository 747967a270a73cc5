import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepline } from './cli.ts';

describe('stepline demo (npm start)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-demo-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('goes from a real git push to production through the emailed approval, and production answers', async () => {
    const { code, stdout, stderr } = await stepline(['demo', '--data', dataDir, '--port', '0', '--exit']);

    expect(stdout).toMatch(/^ {3}console {2}http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+ /m);
    expect(stdout).toMatch(/remote: stepline: refs\/heads\/main → execution github-/);
    for (const state of [
      'Build',
      'Test',
      'PublishImage',
      'CheckStaging',
      'RequestApproval',
      'CheckProduction',
    ])
      expect(stdout).toMatch(new RegExp(`✓ ${state} `));
    expect(stdout).toMatch(/✓ RequestApproval .*approved by release-manager@example\.com/);
    expect(stdout).toMatch(/^ {3}200 \{"message":"Hello, world!","commit":"[0-9a-f]{40}"\}$/m);
    expect(stdout).toMatch(/^ {3}production URL: http:\/\/127\.0\.0\.1:\d+$/m);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('leaves the approval email in the outbox as a MIME message', async () => {
    const names = (await readdir(join(dataDir, 'outbox'))).filter((name) => name.endsWith('.eml'));
    const message = await readFile(join(dataDir, 'outbox', names[0]!), 'utf8');

    expect(names.length).toBeGreaterThan(0);
    expect(message).toMatch(/^To: release-manager@example\.com/m);
    expect(message).toMatch(/^Content-Type: multipart\/alternative/m);
  });

  it('keeps the webhook secret out of the local remote it set up', async () => {
    const secret = (await readFile(join(dataDir, 'webhook-secret'), 'utf8')).trim();
    const remoteConfig = await readFile(join(dataDir, 'git', 'demo', 'hello-service.git', 'config'), 'utf8');

    expect(secret.length).toBeGreaterThan(20);
    expect(remoteConfig).not.toContain(secret);
  });
});
