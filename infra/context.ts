import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.ts';

/**
 * The `context` block of cdk.json: the recommended CDK feature flags of the pinned aws-cdk-lib (as
 * `cdk init` writes them) and any context a team adds there. The CDK CLI passes it to `infra/app.ts`
 * by itself; `npm run synth` and the infra tests synthesize without the CLI and read it here, so the
 * template they check is the template `cdk deploy` deploys.
 */
export function cdkJsonContext(file: string = join(repoRoot, 'cdk.json')): Record<string, unknown> {
  const json = JSON.parse(readFileSync(file, 'utf8')) as { context?: unknown };
  const { context } = json;
  if (context === undefined) return {};
  if (typeof context !== 'object' || context === null || Array.isArray(context))
    throw new Error(`${file}: "context" must be an object, got ${JSON.stringify(context)}`);
  return { ...(context as Record<string, unknown>) };
}
