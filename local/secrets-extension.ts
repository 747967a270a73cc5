import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { constantTimeEqual } from '#local/http/constant-time.ts';
import { listen } from '#local/http/listen.ts';
import type { ResolveSecret } from '#shared/secrets.ts';

export interface LocalSecretsExtension {
  /** The port: a function gets it as `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`. */
  port: number;
  /** The token a caller must send in `X-Aws-Parameters-Secrets-Token`: a function's `AWS_SESSION_TOKEN`. */
  token: string;
  /** The variables a function's environment needs to reach this stand-in, as on Lambda. */
  env: { PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: string; AWS_SESSION_TOKEN: string };
  server: Server;
  close(): Promise<void>;
}

export interface LocalSecretsExtensionOptions {
  /** Answers a `{secretName}`; locally, `localSecretResolver()`. */
  resolveSecret: ResolveSecret;
  /** @default random */
  token?: string;
  /** @default 0 (any free port) */
  port?: number;
}

/**
 * A loopback stand-in for the AWS Parameters and Secrets Lambda Extension, so that a handler whose
 * `awsSecretResolver` asks the extension runs unchanged on one machine. It speaks the part of the
 * extension's HTTP API Stepline uses: `GET /secretsmanager/get?secretId=<name>` with the session token
 * in `X-Aws-Parameters-Secrets-Token`, answered with GetSecretValue's JSON (`Name`, `SecretString`);
 * 401 without the right token, 400 naming the secret when it cannot be read. It listens on 127.0.0.1.
 */
export async function startLocalSecretsExtension(
  options: LocalSecretsExtensionOptions,
): Promise<LocalSecretsExtension> {
  const token = options.token ?? randomBytes(24).toString('hex');
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' || url.pathname !== '/secretsmanager/get')
      return send(404, { message: `no route ${req.method} ${url.pathname}` });
    if (!constantTimeEqual(String(req.headers['x-aws-parameters-secrets-token'] ?? ''), token))
      return send(401, { message: 'X-Aws-Parameters-Secrets-Token is missing or wrong' });
    const secretId = url.searchParams.get('secretId');
    if (!secretId) return send(400, { message: 'secretId is required' });
    options.resolveSecret({ secretName: secretId }).then(
      (value) => send(200, { Name: secretId, SecretString: value }),
      (error: unknown) =>
        send(400, { message: error instanceof Error ? error.message : `secret "${secretId}" not found` }),
    );
  });
  const { port } = await listen(server, '127.0.0.1', options.port ?? 0);
  return {
    port,
    token,
    env: { PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(port), AWS_SESSION_TOKEN: token },
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
