import { SFNClient } from '@aws-sdk/client-sfn';
import { createLogger } from '#shared/logger.ts';
import { jsonOf, parseEnv } from '#shared/parse-env.ts';
import { awsSecretResolver } from '#shared/secrets.ts';
import { WebhookConfig } from '#shared/webhook-config.ts';
import * as z from '#shared/zod-mini.ts';
import { createHandler } from './create-handler.ts';

export { createHandler } from './create-handler.ts';

const StateMachineArn = z.string().check(
  z.regex(/^arn:[\w-]+:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/, {
    message: 'expected a state machine ARN like arn:aws:states:<region>:<account>:stateMachine:<name>',
  }),
);

export const WebhookEnv = z.object({
  STATE_MACHINE_ARN: StateMachineArn,
  /**
   * The deployment configuration as JSON, the same document the CDK app read (and validated whole);
   * the webhook checks and keeps what it reads: each repository's provider, name, secret and triggers.
   */
  STEPLINE_CONFIG: jsonOf(WebhookConfig),
});

const env = parseEnv(WebhookEnv, process.env, 'webhook');
const logger = createLogger('stepline-webhook');
const sfn = new SFNClient({});

/** `POST /webhooks/{provider}` on API Gateway (HTTP API, payload v2). */
export const handler = createHandler({
  sfn,
  stateMachineArn: env.STATE_MACHINE_ARN,
  config: env.STEPLINE_CONFIG,
  resolveSecret: awsSecretResolver(),
  logger,
});
