import { describe, expect, it } from 'vitest';
import { DeploymentConfig, findRepositoryConfig, matchesRepository } from '#shared/deployment-config.ts';

describe('matchesRepository', () => {
  it('matches an exact owner/name regardless of case', () => {
    expect(matchesRepository('Acme/API', 'acme/api')).toBe(true);
  });

  it('treats a lone * as any repository', () => {
    expect(matchesRepository('*', 'group/subgroup/project')).toBe(true);
  });

  it('matches one level with owner/*', () => {
    expect(matchesRepository('acme/*', 'acme/api')).toBe(true);
    expect(matchesRepository('acme/*', 'acme/platform/api')).toBe(false);
  });

  it('matches GitLab subgroups with owner/**', () => {
    expect(matchesRepository('acme/**', 'acme/platform/api')).toBe(true);
  });

  it('does not match another owner', () => {
    expect(matchesRepository('acme/*', 'evil/api')).toBe(false);
  });

  it('matches a repository whose name starts with a dot, such as .github', () => {
    expect(matchesRepository('acme/*', 'acme/.github')).toBe(true);
  });
});

describe('findRepositoryConfig', () => {
  const config = DeploymentConfig.parse({
    repositories: [
      { provider: 'gitlab', name: 'acme/*', webhookSecret: { value: 'gitlab' } },
      { provider: 'github', name: 'Acme/*', webhookSecret: { value: 'first' } },
      { provider: 'github', name: 'acme/api', webhookSecret: { value: 'second' } },
    ],
  });

  it('returns the first entry of the same provider whose name covers the repository', () => {
    expect(findRepositoryConfig(config, 'github', 'acme/api')?.webhookSecret).toEqual({ value: 'first' });
  });

  it('ignores entries of another provider', () => {
    expect(findRepositoryConfig(config, 'bitbucket', 'acme/api')).toBeUndefined();
  });

  it('returns undefined when no name covers the repository', () => {
    expect(findRepositoryConfig(config, 'github', 'evil/api')).toBeUndefined();
  });
});

describe('DeploymentConfig', () => {
  it('refuses the same repository configured twice, naming both places', () => {
    const result = DeploymentConfig.safeParse({
      repositories: [
        { provider: 'github', name: 'acme/api', webhookSecret: { value: 'one' } },
        { provider: 'github', name: 'Acme/API', webhookSecret: { value: 'two' } },
      ],
    });

    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['repositories', 1, 'name'],
      message: 'repository "Acme/API" (github) is already configured at repositories[0]',
    });
  });

  it('accepts the same repository name under two providers', () => {
    const result = DeploymentConfig.safeParse({
      repositories: [
        { provider: 'github', name: 'acme/api', webhookSecret: { value: 'one' } },
        { provider: 'gitlab', name: 'acme/api', webhookSecret: { value: 'two' } },
      ],
    });

    expect(result.success).toBe(true);
  });
});
