import { mkdtemp, readFile, rm } from 'node:fs/promises';
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

  it('starts a run from a real git push and shows it through build and test', async () => {
    const { code, stdout, stderr } = await stepline(['demo', '--data', dataDir, '--port', '0']);

    expect(stdout).toMatch(/remote: stepline: refs\/heads\/main → execution github-/);
    expect(stdout).toMatch(/✓ Build/);
    expect(stdout).toMatch(/✓ Test/);
    expect(stdout).toMatch(/✗ PublishImage .*NotImplementedError/);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('keeps the webhook secret out of the local remote it set up', async () => {
    const secret = (await readFile(join(dataDir, 'webhook-secret'), 'utf8')).trim();
    const remoteConfig = await readFile(join(dataDir, 'git', 'demo', 'hello-service.git', 'config'), 'utf8');

    expect(secret.length).toBeGreaterThan(20);
    expect(remoteConfig).not.toContain(secret);
  });
});
