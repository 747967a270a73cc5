import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import { MAX_BODY_BYTES } from '#functions/webhook/receive-push.ts';
import { listen } from '#local/http/listen.ts';
import { BodyTooLargeError, readBody } from '#local/http/read-body.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { createLogger } from '#shared/logger.ts';
import { providers } from '#shared/push-event.ts';
import { localLambdaContext, sendApiGatewayResult, sendJson, toApiGatewayEvent } from './http/api-gateway.ts';

/**
 * One route of the local server, written as API Gateway routes are: `method` and a `pattern` such as
 * `/approvals/{id}` (`{name+}` takes the rest of the path). `handle` gets the event API Gateway
 * would pass a Lambda and answers as the Lambda would, so a function's `handler` plugs in as is.
 */
export interface LocalRoute {
  method: string;
  pattern: string;
  handle(event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyResultV2>;
  /** Name in the Lambda context. @default derived from the pattern */
  functionName?: string;
}

export interface WebhookServerOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /**
   * `POST /webhooks/{provider}`: the webhook function as the HTTP API's Lambda integration invokes
   * it (locally `localLambdas().webhook`, its bundle in a worker). It gets the request's body as
   * API Gateway passes it: text when textual and valid UTF-8, else base64, so the bytes a signature
   * covers arrive unchanged.
   */
  webhook: LocalRoute['handle'];
  /** Where a request the server itself failed on is logged. @default a Powertools logger for "stepline-api" */
  logger?: Pick<Logger, 'error'>;
  /** More routes on the same server (e.g. approvals), matched after the built-in ones. */
  routes?: readonly LocalRoute[];
}

export interface WebhookServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

interface CompiledRoute extends LocalRoute {
  regex: RegExp;
  names: string[];
}

function compile(route: LocalRoute): CompiledRoute {
  const names: string[] = [];
  const source = route.pattern
    .split('/')
    .map((segment) => {
      const param = /^\{([A-Za-z_][A-Za-z0-9_]*)(\+)?\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[1]!);
      return param[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { ...route, method: route.method.toUpperCase(), regex: new RegExp(`^${source}$`), names };
}

function match(route: CompiledRoute, path: string): Record<string, string> | undefined {
  const found = route.regex.exec(path);
  if (!found) return undefined;
  const params: Record<string, string> = {};
  route.names.forEach((name, i) => {
    params[name] = decodeURIComponent(found[i + 1]!);
  });
  return params;
}

/**
 * The local stand-in for API Gateway: `POST /webhooks/{provider}` invokes the webhook function with
 * an API Gateway v2 event built from the request; `GET /healthz` answers 200. Unknown paths get 404
 * and known paths with another method 405. Bodies over the webhook's limit get 413 without an invocation.
 */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const logger = options.logger ?? createLogger('stepline-api');
  const routes = [
    {
      method: 'POST',
      pattern: '/webhooks/{provider}',
      functionName: 'stepline-webhook',
      handle: options.webhook,
    },
    {
      method: 'GET',
      pattern: '/healthz',
      handle: async () => ({
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'ok' }),
      }),
    },
    ...(options.routes ?? []),
  ].map(compile);

  const server = createServer((req, res) => {
    serve(req, res, routes).catch((error: unknown) => {
      logger.error('local request failed', {
        error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
      });
      if (!res.headersSent) sendJson(res, 500, { message: 'internal error' });
      else res.destroy();
    });
  });
  const { url, port } = await listen(server, options.host ?? '127.0.0.1', options.port ?? 0);
  return {
    url,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  routes: readonly CompiledRoute[],
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  // Route parameters are percent-decoded; a path that does not decode is bad input, not a 500.
  try {
    decodeURIComponent(path);
  } catch (error) {
    req.resume();
    const reason = error instanceof Error ? error.message : String(error);
    return sendJson(res, 400, { message: `malformed path ${JSON.stringify(path)}: ${reason}` });
  }
  let allowed: string[] = [];
  let found: { route: CompiledRoute; params: Record<string, string> } | undefined;
  for (const route of routes) {
    const params = match(route, path);
    if (!params) continue;
    if (route.method === method) {
      found = { route, params };
      break;
    }
    allowed.push(route.method);
  }
  if (!found) {
    req.resume();
    allowed = [...new Set(allowed)];
    if (allowed.length > 0)
      return sendJson(
        res,
        405,
        { message: `${method} is not allowed on ${path}` },
        { allow: allowed.join(', ') },
      );
    return sendJson(res, 404, { message: `no route for ${method} ${path}` });
  }
  let body: Buffer;
  try {
    body = await readBody(req, MAX_BODY_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) return sendJson(res, 413, { message: error.message });
    throw error;
  }
  const { route, params } = found;
  const event = toApiGatewayEvent(req, body, `${route.method} ${route.pattern}`, params);
  const functionName =
    route.functionName ?? `stepline${route.pattern.replace(/[^A-Za-z0-9]+/g, '-')}`.replace(/-$/, '');
  sendApiGatewayResult(res, await route.handle(event, localLambdaContext(functionName)));
}

/**
 * A deployment configuration for trying Stepline on one machine: pushes of any repository of any
 * provider signed with `secret`, on any branch or tag, start a run. It deploys to the local ECS's
 * services `staging` and `production` (cluster `stepline-local`, container `app`, 2 tasks each,
 * health and smoke check on `/healthz`).
 */
export function localDefaultConfig(secret: string): DeploymentConfig {
  const target = (service: string) => ({
    cluster: 'stepline-local',
    service,
    container: 'app',
    desiredCount: 2,
    smokePath: '/healthz',
  });
  return DeploymentConfig.parse({
    repositories: providers.map((provider) => ({
      provider,
      name: '*',
      webhookSecret: { value: secret },
      triggers: { branches: ['**'], tags: ['**'] },
      deploy: { staging: target('staging'), production: target('production') },
      // The local outbox receives the email; `stepline approve` or the link decides.
      approvers: ['release-manager@example.com'],
    })),
    notificationEmails: ['team@example.com'],
  });
}
