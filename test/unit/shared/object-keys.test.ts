import { describe, expect, it } from 'vitest';
import {
  artifactsKey,
  cacheKey,
  cacheScope,
  configKey,
  logKey,
  repositoryCachesPrefix,
  repositoryRunsPrefix,
  repositorySegment,
  runPrefix,
  sourceKey,
} from '#shared/object-keys.ts';
import { providers } from '#shared/push-event.ts';

const api = { provider: 'github', repository: 'acme/api' } as const;
const run = { ...api, run: 'github-delivery-1' };

describe('object keys', () => {
  it('puts every key of a run under runs/<provider>/<repository>/<run>/', () => {
    expect(sourceKey(run)).toBe('runs/github/acme%2Fapi/github-delivery-1/source.tar.gz');
    expect(configKey(run)).toBe('runs/github/acme%2Fapi/github-delivery-1/stepline.json');
    expect(logKey(run, 'test')).toBe('runs/github/acme%2Fapi/github-delivery-1/logs/test.log');
    expect(artifactsKey(run)).toBe('runs/github/acme%2Fapi/github-delivery-1/artifacts/build.tar.gz');
  });

  it('puts the provider in the cache key, so a gitea push of acme/api never fills the cache a github push restores', () => {
    const scope = cacheScope('branch', 'main');
    const github = cacheKey(api, scope, 'build', 'abc');
    const gitea = cacheKey({ provider: 'gitea', repository: 'acme/api' }, scope, 'build', 'abc');

    expect(github).toBe('caches/github/acme%2Fapi/branch/main/build/abc.tar.gz');
    expect(gitea).toBe('caches/gitea/acme%2Fapi/branch/main/build/abc.tar.gz');
  });

  it('gives two providers with the same repository name different prefixes for runs and caches', () => {
    const prefixes = providers.map((provider) => [
      repositoryRunsPrefix({ provider, repository: 'acme/api' }),
      repositoryCachesPrefix({ provider, repository: 'acme/api' }),
    ]);

    expect(new Set(prefixes.flat()).size).toBe(providers.length * 2);
    for (const [runs, caches] of prefixes) {
      for (const [otherRuns, otherCaches] of prefixes) {
        if (runs === otherRuns) continue;
        expect(otherRuns!.startsWith(runs!)).toBe(false);
        expect(otherCaches!.startsWith(caches!)).toBe(false);
      }
    }
  });

  it('keeps a GitLab subgroup path in one segment, so no repository prefix covers another repository', () => {
    const parent = repositoryRunsPrefix({ provider: 'gitlab', repository: 'group/web' });
    const child = repositoryRunsPrefix({ provider: 'gitlab', repository: 'group/web/sub' });
    const sibling = repositoryRunsPrefix({ provider: 'gitlab', repository: 'group/web-v2' });

    expect(parent).toBe('runs/gitlab/group%2Fweb/');
    expect(child).toBe('runs/gitlab/group%2Fweb%2Fsub/');
    expect(child.startsWith(parent)).toBe(false);
    expect(sibling.startsWith(parent)).toBe(false);
  });

  it('gives the same prefix to a repository however the push spells its case', () => {
    expect(repositoryRunsPrefix({ provider: 'github', repository: 'Acme/API' })).toBe(
      repositoryRunsPrefix(api),
    );
  });

  it('keeps dots, dashes and underscores and percent-encodes everything else, IAM wildcards included', () => {
    expect(repositorySegment('acme/my_service.v2-beta')).toBe('acme%2Fmy_service.v2-beta');
    expect(repositorySegment('acme/a*b?c d')).toBe('acme%2Fa%2Ab%3Fc%20d');
    expect(repositorySegment('acme/café')).toBe('acme%2Fcaf%C3%A9');
  });

  it('never makes a segment that is . or ..', () => {
    expect(repositorySegment('.github')).toBe('%2Egithub');
    expect(repositorySegment('..')).toBe('%2E.');
    expect(repositorySegment('acme/.github')).toBe('acme%2F.github');
  });

  it('refuses a repository with an empty part, naming it', () => {
    expect(() => repositorySegment('acme/')).toThrow('repository "acme/": expected owner/name');
    expect(() => repositorySegment('')).toThrow('repository "": expected owner/name');
    expect(() => repositorySegment('a//b')).toThrow('"a//b"');
  });

  it('refuses a run name that would leave its prefix, naming it', () => {
    expect(() => runPrefix({ ...api, run: '../other' })).toThrow(
      'run "../other": expected an execution name',
    );
    expect(() => sourceKey({ ...api, run: '' })).toThrow('run ""');
  });
});
