import { describe, expect, it } from 'vitest';
import { DeploymentConfig, executionModeFor } from '#shared/deployment-config.ts';
import { formatZodError } from '#shared/format-zod-error.ts';

const repository = { provider: 'github', name: 'acme/api', webhookSecret: { value: 's' } };
const target = { cluster: 'c', service: 's', container: 'app' };
const parse = (executionMode: unknown) =>
  DeploymentConfig.safeParse({ repositories: [{ ...repository, executionMode }] });
const branch = (refName: string) => ({ refType: 'branch' as const, refName });

describe('executionMode in the deployment config', () => {
  it('takes one mode for every branch, or branch globs to modes', () => {
    expect(parse('queued').success).toBe(true);
    expect(parse({ main: 'superseded', 'release/*': 'queued' }).success).toBe(true);
  });

  it('refuses an unknown mode, naming the field and the bad value', () => {
    const result = parse('newest-wins');

    expect(result.success).toBe(false);
    expect(formatZodError(result.error!).join('\n')).toMatch(
      /repositories\[0\]\.executionMode: expected "superseded", "queued" or "parallel".*got "newest-wins"/,
    );
  });

  it('refuses a branch glob mapped to an unknown mode, showing the object', () => {
    const result = parse({ 'release/*': 'fifo' });

    expect(formatZodError(result.error!).join('\n')).toContain('got {"release/*":"fifo"}');
  });
});

describe('executionModeFor', () => {
  it('is superseded for the branches of a repository that deploys, parallel for one that does not', () => {
    expect(executionModeFor({ deploy: { staging: stagingTarget() } }, branch('main'))).toBe('superseded');
    expect(executionModeFor({}, branch('main'))).toBe('parallel');
  });

  it('runs tag pushes in parallel whatever the setting', () => {
    expect(executionModeFor({ executionMode: 'queued' }, { refType: 'tag', refName: 'v1.0.0' })).toBe(
      'parallel',
    );
  });

  it('takes the first glob that matches the branch, else the default', () => {
    const entry = { executionMode: { 'release/*': 'queued', '**': 'parallel' } as const };

    expect(executionModeFor(entry, branch('release/2.0'))).toBe('queued');
    expect(executionModeFor(entry, branch('feature/x'))).toBe('parallel');
    expect(executionModeFor({ executionMode: { main: 'queued' } }, branch('dev'))).toBe('parallel');
  });
});

function stagingTarget() {
  return DeploymentConfig.parse({ repositories: [{ ...repository, deploy: { staging: target } }] })
    .repositories[0]!.deploy!.staging!;
}
