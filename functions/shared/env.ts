import { z } from 'zod';
import { DeploymentConfig } from './deployment-config.ts';
import { formatZodError } from './format-zod-error.ts';

/** `STEPLINE_CONFIG`: the deployment configuration as JSON, the same document the CDK app read. */
export const DeploymentConfigJson = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `not JSON: ${(error as Error).message}` });
      return z.NEVER;
    }
  })
  .pipe(DeploymentConfig);

/**
 * A Lambda function's environment parsed with `schema`, for use at cold start. Throws an error
 * naming the function and listing every bad variable, one per line, rather than falling back to
 * defaults.
 */
export function parseEnv<T extends z.ZodType>(
  schema: T,
  env: NodeJS.ProcessEnv,
  functionName: string,
): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new Error(
      `${functionName} function environment is invalid:\n  ${formatZodError(parsed.error).join('\n  ')}`,
    );
  }
  return parsed.data;
}
