import type * as core from 'zod/v4/core';
import { DeploymentConfig } from './deployment-config.ts';
import { formatZodError } from './format-zod-error.ts';
import * as z from './zod-mini.ts';

/** `STEPLINE_CONFIG`: the deployment configuration as JSON, the same document the CDK app read. */
export const DeploymentConfigJson = z.pipe(
  z.pipe(
    z.string(),
    z.transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch (error) {
        ctx.issues.push({ code: 'custom', message: `not JSON: ${(error as Error).message}`, input: text });
        return z.NEVER;
      }
    }),
  ),
  DeploymentConfig,
);

/**
 * A Lambda function's environment parsed with `schema` (built with `zod` or `zod/mini`), for use at
 * cold start. Throws an error naming the function and listing every bad variable, one per line,
 * rather than falling back to defaults.
 */
export function parseEnv<T extends core.$ZodType>(
  schema: T,
  env: NodeJS.ProcessEnv,
  functionName: string,
): core.output<T> {
  const parsed = z.safeParse(schema, env);
  if (!parsed.success) {
    throw new Error(
      `${functionName} function environment is invalid:\n  ${formatZodError(parsed.error).join('\n  ')}`,
    );
  }
  return parsed.data;
}
