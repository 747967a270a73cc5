import { Logger } from '@aws-lambda-powertools/logger';

/**
 * One structured JSON logger per function. The level comes from `POWERTOOLS_LOG_LEVEL` (set by
 * the stack, or by the CLI), INFO by default. Secrets are never passed to it.
 */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName });
}
