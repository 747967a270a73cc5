import { Logger } from '@aws-lambda-powertools/logger';

/** One structured JSON logger per function. Secrets are never passed to it. */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, logLevel: (process.env.LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });
}
