import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdkJsonContext } from '#infra/context.ts';
import { bundlingOptions, PipelineFunction } from '#infra/pipeline-function.ts';

// The pipeline tests synthesize with bundling off; this one bundles the webhook as `cdk deploy` does
// (local esbuild), so it checks the asset itself and not only the options handed to NodejsFunction.
let outdir: string;
let bundle: string;
let map: { sources: string[]; sourcesContent?: unknown; mappings: string };
let environment: Record<string, unknown>;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'stepline-bundling-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  const stack = new Stack(app, 'Bundling');
  new PipelineFunction(stack, 'Webhook', { folder: 'webhook' });
  app.synth();
  const [fn] = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')) as {
    Properties: { Code: { S3Key: string }; Environment: { Variables: Record<string, unknown> } };
  }[];
  const asset = join(outdir, `asset.${fn!.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
  bundle = readFileSync(join(asset, 'index.mjs'), 'utf8');
  map = JSON.parse(readFileSync(join(asset, 'index.mjs.map'), 'utf8'));
  environment = fn!.Properties.Environment.Variables;
}, 120_000);

afterAll(() => {
  if (outdir !== undefined && existsSync(outdir)) rmSync(outdir, { recursive: true, force: true });
});

describe('Lambda bundles', () => {
  it('are bundled with the options the cold-start benchmark measures', () => {
    expect(bundlingOptions).toMatchObject({
      format: 'esm',
      target: 'node22',
      mainFields: ['module', 'main'],
      minify: true,
      keepNames: true,
      externalModules: [],
      sourceMap: true,
      sourcesContent: false,
    });
  });

  // Boolean assertions: a failing match would print the whole bundle.
  it('are minified ESM: no per-module comments, a few long lines', () => {
    expect(bundle.startsWith("import { createRequire } from 'module';")).toBe(true);
    expect(/^\/\/ functions\/webhook\//m.test(bundle)).toBe(false);
    expect(bundle.split('\n').length).toBeLessThan(200);
  });

  it('carry the AWS SDK inside instead of importing the runtime copy', () => {
    expect(/from\s*["']@aws-sdk\//.test(bundle)).toBe(false);
    expect(/import\(["']@aws-sdk\//.test(bundle)).toBe(false);
    expect(map.sources.some((source) => source.includes('@aws-sdk/client-sfn'))).toBe(true);
  });

  it('leave out of the webhook what none of its requests uses', () => {
    const has = (part: string) => map.sources.some((source) => source.includes(part));
    // Secrets come from the Parameters and Secrets extension over localhost (#shared/secrets.ts).
    expect(has('client-secrets-manager')).toBe(false);
    expect(has('powertools/parameters')).toBe(false);
    // Globs by #shared/glob.ts; of the deployment config only what the webhook reads (#shared/webhook-config.ts).
    expect(has('/picomatch/')).toBe(false);
    expect(has('functions/shared/deployment-config.ts')).toBe(false);
    // middy's streamed responses: Node would load node:stream/web at every cold start.
    expect(has('@middy/core')).toBe(false);
    expect(bundle.includes('node:stream/web')).toBe(false);
  });

  it('keep function and class names, which the state machine and the logs rely on', () => {
    expect(bundle.includes('"receivePush"')).toBe(true);
    expect(bundle.includes('"createHandler"')).toBe(true);
  });

  it('ship a source map without the sources, and do not parse it at cold start', () => {
    expect(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/.test(bundle)).toBe(true);
    expect(map.sourcesContent).toBeUndefined();
    expect(map.sources.some((source) => source.endsWith('functions/webhook/receive-push.ts'))).toBe(true);
    expect(environment.NODE_OPTIONS).toBeUndefined();
  });
});
