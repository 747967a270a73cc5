import type { Logger } from '@aws-lambda-powertools/logger';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { Provider } from '#shared/provider.ts';
import {
  matchesRepository,
  type SecretRef,
  type WebhookConfig,
  type WebhookRepository,
} from '#shared/webhook-config.ts';
import { type ExecutionInput, executionArn, executionName, fitExecutionInput } from './execution.ts';
import { adapters, type Headers, type NormalizedPush } from './providers.ts';
import { verifySignature } from './signature.ts';
import { whyNotTriggered } from './triggers.ts';

/**
 * Deliveries above this size are refused with 413 before anything else is done with them. On AWS
 * the body reaches this Lambda inside API Gateway's event, JSON-escaped (a push payload grows by
 * about a tenth), and a synchronous invoke carries at most 6 MB (6,291,456 bytes): 4 MiB leaves
 * that room, so the check can run. Larger bodies never get here on AWS: up to 10 MB the invoke is
 * refused and API Gateway answers its own 5xx; above 10 MB API Gateway answers 413 itself
 * (docs/webhooks.md, "Replies"). GitHub caps deliveries at 25 MB; real pushes are far smaller.
 */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** One HTTP delivery as it reached `POST /webhooks/{provider}`. */
export interface RawRequest {
  /** The `{provider}` route parameter, unchecked. */
  provider: string;
  /** Header names lower-cased. */
  headers: Headers;
  /** The body bytes exactly as sent: signatures are computed over them. */
  body: Buffer;
}

export interface WebhookDeps {
  sfn: Pick<SFNClient, 'send'>;
  stateMachineArn: string;
  /** What the webhook reads of the deployment configuration (a whole `DeploymentConfig` will do). */
  config: WebhookConfig;
  /** The value behind a SecretRef. Values must never reach the logger. */
  resolveSecret(ref: SecretRef): Promise<string>;
  logger: Logger;
  /** Milliseconds since the epoch, read once when a delivery arrives. @default Date.now */
  now?: () => number;
}

export interface Reply {
  statusCode: number;
  body: Record<string, unknown>;
}

const reply = (statusCode: number, body: Record<string, unknown>): Reply => ({ statusCode, body });
const ignored = (reason: string): Reply => reply(200, { ignored: reason });

/** Names a SecretRef for logs without its value. */
function describeSecret(ref: SecretRef): string {
  if ('secretName' in ref) return `secret "${ref.secretName}"`;
  if ('env' in ref) return `environment variable ${ref.env}`;
  return 'a literal value in the configuration';
}

/**
 * Receives one push delivery and starts at most one pipeline execution for it.
 *
 * Which secret verifies the delivery? The repository named in the body cannot be trusted before
 * the signature is checked, and parsing the body to read it would already act on unverified
 * input. So nothing of the body is looked at first: the signature is checked against the secret
 * of every repository configured for this provider (each distinct secret once, in constant time),
 * and only when at least one verifies is the body parsed. The repository the verified payload
 * names must then be one whose secret verified it; a payload signed with one repository's secret
 * cannot start a run for another. The cost is one HMAC per distinct configured secret, which is
 * bounded by the deployment configuration and not by the sender.
 */
export async function receivePush(req: RawRequest, deps: WebhookDeps): Promise<Reply> {
  const receivedAt = (deps.now ?? Date.now)();
  const { logger } = deps;
  const providerParse = Provider.safeParse(req.provider);
  if (!providerParse.success)
    return reply(404, {
      message: `unknown provider ${JSON.stringify(req.provider)}; expected one of github, gitlab, gitea, bitbucket`,
      field: 'provider',
    });
  const provider = providerParse.data;
  if (req.body.length > MAX_BODY_BYTES)
    return reply(413, {
      message: `body of ${req.body.length} bytes is over the ${MAX_BODY_BYTES}-byte limit`,
    });

  const candidates = deps.config.repositories.filter((r) => r.provider === provider);
  if (candidates.length === 0)
    return reply(404, {
      message: `no repository is configured for provider "${provider}"`,
      field: 'provider',
    });

  const adapter = adapters[provider];
  const signature = adapter.signature(req.headers);
  if (signature.value === undefined) {
    logger.warn('delivery without signature', { provider, header: signature.name });
    return reply(401, { message: `missing ${signature.name} header`, field: signature.name });
  }

  const resolved = await Promise.all(
    candidates.map(async (repository) => {
      try {
        return { repository, secret: await deps.resolveSecret(repository.webhookSecret) };
      } catch (error) {
        logger.error('webhook secret could not be read', {
          provider,
          repository: repository.name,
          secret: describeSecret(repository.webhookSecret),
          // Resolver errors name the secret, never its value.
          reason: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
        return { repository, secret: undefined };
      }
    }),
  );
  const verdicts = new Map<string, boolean>();
  const verified: WebhookRepository[] = [];
  for (const { repository, secret } of resolved) {
    if (secret === undefined) continue;
    let ok = verdicts.get(secret);
    if (ok === undefined) {
      ok = verifySignature(adapter.scheme, signature.value, secret, req.body);
      verdicts.set(secret, ok);
    }
    if (ok) verified.push(repository);
  }
  if (verified.length === 0) {
    if (resolved.some((r) => r.secret === undefined))
      return reply(503, { message: 'a webhook secret could not be read; try again later' });
    logger.warn('delivery with a signature that matches no configured secret', {
      provider,
      header: signature.name,
    });
    return reply(401, { message: `${signature.name} does not match the body`, field: signature.name });
  }

  // Verified from here on.
  const event = adapter.event(req.headers);
  if (event.value === undefined)
    return reply(400, { message: `missing ${event.name} header`, field: event.name });
  const kind = adapter.classify(event.value);
  if (kind === 'ping') return ignored('ping');
  if (kind === 'other') return ignored(`event "${event.value}" does not start runs`);
  const delivery = adapter.delivery(req.headers);
  if (delivery.value === undefined)
    return reply(400, { message: `missing ${delivery.name} header`, field: delivery.name });

  let payload: unknown;
  try {
    payload = JSON.parse(req.body.toString('utf8'));
  } catch (error) {
    return reply(400, {
      message: `body is not JSON (${error instanceof Error ? error.message : String(error)}); set the webhook content type to application/json`,
      field: 'body',
    });
  }
  const normalized = adapter.normalize(payload, delivery.value);
  if (normalized.kind === 'invalid')
    return reply(400, { message: normalized.message, field: normalized.field });

  const repository = verified.find((r) => matchesRepository(r.name, normalized.repositoryFullName));
  if (!repository) {
    const configured = candidates.some((r) => matchesRepository(r.name, normalized.repositoryFullName));
    logger.warn('verified delivery for a repository its secret does not cover', {
      provider,
      repository: normalized.repositoryFullName,
    });
    return configured
      ? reply(401, {
          message: `${signature.name} was not made with the secret of repository "${normalized.repositoryFullName}"`,
          field: signature.name,
        })
      : reply(404, {
          message: `repository "${normalized.repositoryFullName}" is not configured for provider "${provider}"`,
          field: 'repository',
        });
  }
  if (normalized.kind === 'ignored') return ignored(normalized.reason);

  let chosen: NormalizedPush | undefined;
  let firstReason: string | undefined;
  for (const candidate of normalized.pushes) {
    const reason = whyNotTriggered(repository.triggers, candidate.event, candidate.changedPaths);
    if (reason === undefined) {
      chosen = candidate;
      break;
    }
    firstReason ??= reason;
  }
  if (!chosen) return ignored(firstReason ?? 'nothing to run');

  return startExecution(fitExecutionInput(chosen.event), receivedAt, deps);
}

/**
 * How much earlier than the delivery's arrival a start date may be and still belong to the execution
 * this delivery started. `startDate` comes from Step Functions' clock and `receivedAt` from the
 * Lambda's; both are NTP-synced but not equal, and a fresh execution is stamped after the delivery
 * arrived, so only clock skew can put it earlier. One second is far above that skew and far below
 * the few seconds after which providers redeliver. A redelivery within that second is reported as a
 * fresh start; it still starts no second run.
 */
const START_DATE_TOLERANCE_MS = 1000;

async function startExecution(
  { push, json }: ExecutionInput,
  receivedAt: number,
  deps: WebhookDeps,
): Promise<Reply> {
  const name = executionName(push.provider, push.deliveryId);
  const context = {
    provider: push.provider,
    repository: push.repository.fullName,
    ref: push.ref,
    after: push.after,
    deliveryId: push.deliveryId,
    executionName: name,
  };
  try {
    const out = await deps.sfn.send(
      new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input: json }),
    );
    const arn = out.executionArn ?? executionArn(deps.stateMachineArn, name);
    // Step Functions answers a repeated start (same name, same input) of a RUNNING execution with
    // success and that execution's original startDate; only a closed one is ExecutionAlreadyExists.
    const startedAt = out.startDate?.getTime();
    if (startedAt !== undefined && startedAt < receivedAt - START_DATE_TOLERANCE_MS) {
      deps.logger.info('redelivery of a running execution', {
        ...context,
        executionArn: arn,
        startDate: new Date(startedAt).toISOString(),
      });
      return reply(202, { executionArn: arn, executionName: name, alreadyStarted: true });
    }
    deps.logger.info('pipeline started', { ...context, executionArn: arn });
    return reply(202, { executionArn: arn, executionName: name });
  } catch (error) {
    // A redelivery of a delivery whose run already finished (or whose input differs) is refused by
    // name; the run it asks for exists, so the delivery is acknowledged without a second run.
    if (error instanceof Error && error.name === 'ExecutionAlreadyExists') {
      const arn = executionArn(deps.stateMachineArn, name);
      deps.logger.info('pipeline already started for this delivery', { ...context, executionArn: arn });
      return reply(202, { executionArn: arn, executionName: name, alreadyStarted: true });
    }
    deps.logger.error('could not start the pipeline', {
      ...context,
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
    });
    return reply(503, { message: 'the pipeline could not be started; the delivery can be retried' });
  }
}
