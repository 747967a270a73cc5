import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleRunner } from '#local/ecs/runner-bundle.ts';

describe('bundleRunner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepline-runner-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds the runner once and reuses the bundle while its sources and options are unchanged', async () => {
    const bundle = await bundleRunner(join(dir, 'runtime'));
    expect(readFileSync(bundle, 'utf8')).toContain('__stepline_require');
    writeFileSync(bundle, `${readFileSync(bundle, 'utf8')}\n// untouched\n`);
    expect(await bundleRunner(join(dir, 'runtime'))).toBe(bundle);
    expect(readFileSync(bundle, 'utf8')).toContain('// untouched');
  }, 60_000);

  it('builds it again when the bundle is gone', async () => {
    const bundle = await bundleRunner(join(dir, 'runtime'));
    rmSync(bundle);
    await bundleRunner(join(dir, 'runtime'));
    expect(readFileSync(bundle, 'utf8')).not.toContain('// untouched');
  }, 60_000);
});
