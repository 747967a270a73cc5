import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateDirectory } from '#local/commands/validate.ts';
import { minimalPipelineExample } from '#shared/pipeline-config.ts';

describe('validateDirectory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stepline-validate-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes a valid stepline.yml', async () => {
    await writeFile(join(dir, 'stepline.yml'), minimalPipelineExample);

    expect(await validateDirectory(dir)).toEqual({ ok: true, file: join(dir, 'stepline.yml'), problems: [] });
  });

  it('reads stepline.yaml when there is no stepline.yml', async () => {
    await writeFile(join(dir, 'stepline.yaml'), minimalPipelineExample);

    expect(await validateDirectory(dir)).toMatchObject({ ok: true, file: join(dir, 'stepline.yaml') });
  });

  it('lists every problem with its path', async () => {
    await writeFile(join(dir, 'stepline.yml'), 'build:\n  commands: [1]\n');

    const report = await validateDirectory(dir);

    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      'build.commands[0]: expected string, received number (line 2)',
      'test: required, expected object',
    ]);
  });

  it('shows the minimal example when the directory has no stepline.yml', async () => {
    const report = await validateDirectory(dir);

    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toContain('has no stepline.yml');
    expect(report.problems[0]).toContain(minimalPipelineExample);
  });

  it('refuses a directory that has both stepline.yml and stepline.yaml', async () => {
    await writeFile(join(dir, 'stepline.yml'), minimalPipelineExample);
    await writeFile(join(dir, 'stepline.yaml'), minimalPipelineExample);

    expect((await validateDirectory(dir)).problems).toEqual([
      `both stepline.yml and stepline.yaml exist in ${dir}; keep only one`,
    ]);
  });
});
