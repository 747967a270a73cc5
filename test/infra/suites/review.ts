import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cdkJsonContext } from '#infra/context.ts';
import { demoServiceNames } from '#infra/demo-stack.ts';
import { synth } from '../fixture.ts';

const require = createRequire(import.meta.url);

describe('CDK feature flags (issue 10)', () => {
  it('sets every feature flag the pinned aws-cdk-lib recommends, with the recommended value, in cdk.json', () => {
    const recommended = JSON.parse(
      readFileSync(require.resolve('aws-cdk-lib/recommended-feature-flags.json'), 'utf8'),
    ) as Record<string, unknown>;
    const context = cdkJsonContext();

    expect(Object.keys(recommended).length).toBeGreaterThan(80);
    for (const [flag, value] of Object.entries(recommended)) expect(context[flag], flag).toEqual(value);
  });

  it('keeps the demo services’ ECS deployment controller explicit, so the flags replace no named service', () => {
    const { demoTemplate } = synth();
    for (const name of Object.values(demoServiceNames)) {
      demoTemplate.hasResourceProperties('AWS::ECS::Service', {
        ServiceName: name,
        DeploymentController: { Type: 'ECS' },
      });
    }
  });
});
