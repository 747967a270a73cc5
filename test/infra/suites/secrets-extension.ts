import { describe, expect, it } from 'vitest';
import { maxConfigEnvBytes } from '#infra/config.ts';
import { logicalId, synth } from '../fixture.ts';

// Issue 10, cold starts: the functions that read secrets ask the AWS Parameters and Secrets Lambda
// Extension on localhost instead of bundling a Secrets Manager client (#shared/secrets.ts).

type FunctionKey =
  | 'webhook'
  | 'fetchSource'
  | 'reportStatus'
  | 'requestApproval'
  | 'approvalApi'
  | 'deploy'
  | 'checkDeployment';

describe('secrets through the Parameters and Secrets extension', () => {
  const properties = (key: FunctionKey) => {
    const { stack, template } = synth();
    return template.toJSON().Resources[logicalId(stack.pipeline.functions[key].function)].Properties as {
      Layers?: unknown[];
      Environment: { Variables: Record<string, unknown> };
    };
  };

  it.each(['webhook', 'fetchSource', 'reportStatus', 'requestApproval', 'approvalApi'] as const)(
    'gives %s the extension layer, caching each secret 300 s',
    (key) => {
      const { template } = synth();
      const fn = properties(key);
      expect(fn.Layers).toHaveLength(1);
      // The layer's ARN is per region: a mapping of AWS's published ARNs, looked up in the stack's region.
      const mappings = JSON.stringify(template.toJSON().Mappings ?? {});
      expect(JSON.stringify(fn.Layers)).toContain('Fn::FindInMap');
      expect(mappings).toContain('layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:');
      expect(fn.Environment.Variables).toMatchObject({
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2773',
        PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
        SECRETS_MANAGER_TTL: '300',
        SECRETS_MANAGER_TIMEOUT_MILLIS: '5000',
      });
    },
  );

  it.each(['deploy', 'checkDeployment'] as const)('gives %s, which reads no secret, no extension', (key) => {
    const fn = properties(key);
    expect(fn.Layers).toBeUndefined();
    expect(fn.Environment.Variables).not.toHaveProperty('PARAMETERS_SECRETS_EXTENSION_HTTP_PORT');
  });

  it('leaves every function room for the largest deployment config in its 4 KB environment', () => {
    const { template } = synth();
    for (const [id, resource] of Object.entries(template.toJSON().Resources) as [
      string,
      { Type: string; Properties: { Environment?: { Variables: Record<string, unknown> } } },
    ][]) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      let bytes = 0;
      for (const [name, value] of Object.entries(resource.Properties.Environment?.Variables ?? {})) {
        if (name === 'STEPLINE_CONFIG') continue;
        // A reference resolves to an ARN or a name: counted as 256 bytes, more than any of them.
        bytes += name.length + (typeof value === 'string' ? Buffer.byteLength(value) : 256);
      }
      expect([id, bytes + maxConfigEnvBytes <= 4096]).toEqual([id, true]);
    }
  });
});
