import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';

const Env = z.object({ BUCKET: z.string().min(1), STEPLINE_CONFIG: DeploymentConfigJson });

const config = JSON.stringify({
  repositories: [{ provider: 'github', name: 'acme/api', webhookSecret: { env: 'HOOK' } }],
});

describe('parseEnv', () => {
  it('returns the parsed environment with STEPLINE_CONFIG as a deployment configuration', () => {
    const env = parseEnv(Env, { BUCKET: 'b', STEPLINE_CONFIG: config }, 'fetch-source');

    expect(env.STEPLINE_CONFIG.repositories[0]!.name).toBe('acme/api');
    expect(env.STEPLINE_CONFIG.artifactRetentionDays).toBe(30);
  });

  it('names the function and lists each bad variable on its own line', () => {
    const parse = () =>
      parseEnv(Env, { BUCKET: '', STEPLINE_CONFIG: '{"repositories": []}' }, 'fetch-source');

    expect(parse).toThrow(
      /^fetch-source function environment is invalid:\n {2}BUCKET: .*\n {2}STEPLINE_CONFIG\.repositories: name at least one repository$/,
    );
  });

  it('says when STEPLINE_CONFIG is not JSON', () => {
    const parse = () => parseEnv(Env, { BUCKET: 'b', STEPLINE_CONFIG: '{' }, 'report-status');

    expect(parse).toThrow(/report-status function environment is invalid:\n {2}STEPLINE_CONFIG: not JSON: /);
  });
});
