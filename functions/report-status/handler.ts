import * as z from 'zod';
import { DeploymentConfigJson, parseEnv } from '#shared/env.ts';
import { createLogger } from '#shared/logger.ts';
import { awsSecretResolver } from '#shared/secrets.ts';
import { createReportStatusHandler, deploymentStatusPublisher } from './create-handler.ts';
import { consoleExecutionUrl, localExecutionUrl } from './report-status.ts';
import { localStatusPublisher } from './status-publishers.ts';

export { createReportStatusHandler, deploymentStatusPublisher } from './create-handler.ts';

export const ReportStatusEnv = z
  .object({
    /** The deployment configuration as JSON: each repository's `providerToken` and `apiUrl`. */
    STEPLINE_CONFIG: DeploymentConfigJson,
    /** Region of the state machine, for the console link each status points at. */
    AWS_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region like eu-west-1'),
    /**
     * `provider` (AWS) or `local` (the local runtime: append to `<STEPLINE_DATA_DIR>/statuses/<run>.jsonl`,
     * and point each status at `stepline executions show`, or at the local console's page).
     */
    STATUS_PUBLISHER: z.enum(['provider', 'local']).default('provider'),
    STEPLINE_DATA_DIR: z.string().min(1).optional(),
    /** Set by the local runtime when it serves the web console: its URL (never its token). */
    STEPLINE_CONSOLE_URL: z
      .url({ protocol: /^https?$/, error: 'expected the http(s) URL of the local console' })
      .optional(),
  })
  .refine((env) => env.STATUS_PUBLISHER !== 'local' || env.STEPLINE_DATA_DIR !== undefined, {
    path: ['STEPLINE_DATA_DIR'],
    message: 'required when STATUS_PUBLISHER is "local"',
  });

const env = parseEnv(ReportStatusEnv, process.env, 'report-status');
const logger = createLogger('stepline-report-status');

/** ReportPending/ReportSuccess/ReportFailure states: `{status, push, run, failure?}`. */
export const handler = createReportStatusHandler({
  publish:
    env.STATUS_PUBLISHER === 'local' && env.STEPLINE_DATA_DIR
      ? localStatusPublisher(env.STEPLINE_DATA_DIR)
      : deploymentStatusPublisher(env.STEPLINE_CONFIG, awsSecretResolver(), logger),
  executionUrl: (run) =>
    env.STATUS_PUBLISHER === 'local'
      ? localExecutionUrl(run.name, env.STEPLINE_CONSOLE_URL)
      : consoleExecutionUrl(env.AWS_REGION, run.executionArn),
  logger,
});
