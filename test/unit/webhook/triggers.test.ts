import { describe, expect, it } from 'vitest';
import { matchesRepository } from '#functions/webhook/triggers.ts';

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
});
