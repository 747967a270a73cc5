import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { formatZodError } from '#shared/format-zod-error.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The deployment configuration for the local runtime: the given file, else `stepline.config.json`
 * if present, else the local default (any repository signed with the local webhook secret).
 */
export function loadLocalConfig(
  path: string | undefined,
  secret: string,
): { config: DeploymentConfig; source: string } {
  const file = path ?? (existsSync('stepline.config.json') ? 'stepline.config.json' : undefined);
  if (!file)
    return {
      config: localDefaultConfig(secret),
      source: 'built-in local default (any repository, STEPLINE_WEBHOOK_SECRET)',
    };
  const full = resolve(file);
  if (!existsSync(full)) throw new UsageError(`config file ${full} does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(full, 'utf8'));
  } catch (error) {
    throw new UsageError(`config file ${full} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = DeploymentConfig.safeParse(json);
  if (!parsed.success)
    throw new UsageError(`config file ${full}:\n  ${formatZodError(parsed.error).join('\n  ')}`);
  return { config: parsed.data, source: full };
}
