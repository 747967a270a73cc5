import type * as core from 'zod/v4/core';
import { formatZodError } from './format-zod-error.ts';
import * as z from './zod-mini.ts';

/**
 * A variable holding JSON text, parsed and then checked with `schema`; text that is not JSON is an
 * issue of the variable, like any other. (`STEPLINE_CONFIG` is one: #shared/env.ts.)
 */
export function jsonOf<T extends core.$ZodType>(schema: T) {
  return z.pipe(
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
    schema,
  );
}

/**
 * A Lambda function's environment parsed with `schema` (built with `zod` or `zod/mini`), for use at
 * cold start. Throws an error naming the function and listing every bad variable, one per line,
 * rather than falling back to defaults. Its own module, apart from the deployment config's schemas,
 * so that a function which reads less of the config (the webhook) does not build them all.
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
