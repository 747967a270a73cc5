import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { BodyTooLargeError, readBody } from '#local/http/read-body.ts';
import { listen } from './listen.ts';
import { type AccessKey, SigV4Error, sigV4JsonError, verifySigV4 } from './sigv4.ts';

/**
 * One AWS service as the AWS JSON protocol (1.0 or 1.1) carries it: `POST /` with
 * `X-Amz-Target: <prefix><Operation>` and a JSON body; errors as `{__type, message}`. The local
 * Step Functions, ECS and ECR stand-ins are each one of these, so the real SDKs (and boto3) talk
 * to them unchanged through `AWS_ENDPOINT_URL_<SERVICE>`. Every request must be signed (SigV4) with
 * `credentials`; one that is not gets AWS's answer (`MissingAuthenticationTokenException`,
 * `UnrecognizedClientException`, `InvalidSignatureException`) before its body is looked at.
 */
export interface AwsJsonService {
  /** What the stand-in is, for messages: `the local ECS`. */
  name: string;
  /** `X-Amz-Target` prefix, e.g. `AWSStepFunctions.`. */
  targetPrefix: string;
  jsonVersion: '1.0' | '1.1';
  /** Larger bodies are refused with `SerializationException`. */
  maxBodyBytes: number;
  /** Answers one operation; throws a client error (400) or anything else (500). */
  dispatch(operation: string, body: unknown): unknown;
  /** Whether an error is the caller's: a 400 whose `__type` is the error's `name`. */
  isClientError(error: unknown): error is Error;
  /** `__type` of a 500, as the real service names its internal errors. */
  serverErrorType: string;
  /** The only access key whose SigV4 signatures are accepted (the data directory's). */
  credentials: AccessKey;
}

export interface AwsJsonServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

class ProtocolError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

/** Answers one request to `service`; for servers that share a port with other routes (the registry). */
export async function serveAwsJson(
  service: AwsJsonService,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const reply = (status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': `application/x-amz-json-${service.jsonVersion}`,
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': crypto.randomUUID(),
    });
    res.end(text);
  };
  try {
    const target = req.headers['x-amz-target'];
    if (req.method !== 'POST' || typeof target !== 'string' || !target.startsWith(service.targetPrefix))
      throw new ProtocolError(
        'UnknownOperationException',
        `${service.name} expects POST / with header X-Amz-Target: ${service.targetPrefix}<Operation>`,
      );
    const raw = await readBody(req, service.maxBodyBytes).catch((error: unknown) => {
      if (error instanceof BodyTooLargeError)
        throw new ProtocolError(
          'SerializationException',
          `request body is larger than ${error.limitBytes} bytes`,
        );
      throw error;
    });
    await verifySigV4(
      { method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body: raw },
      service.credentials,
      { payload: 'body' },
    );
    const text = raw.toString('utf8');
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new ProtocolError('SerializationException', 'request body is not valid JSON');
    }
    reply(200, await service.dispatch(target.slice(service.targetPrefix.length), body));
  } catch (error) {
    if (error instanceof SigV4Error) {
      const { status, type } = sigV4JsonError(error);
      reply(status, { __type: type, message: error.message });
      return;
    }
    if (error instanceof ProtocolError || service.isClientError(error)) {
      reply(400, { __type: error.name, message: error.message });
      return;
    }
    reply(500, {
      __type: service.serverErrorType,
      message: error instanceof Error ? error.message : String(error),
    });
  }
}

/** Serves `service` on its own loopback port (0 picks a free one). */
export async function startAwsJsonServer(
  service: AwsJsonService,
  options: { port?: number; host?: string } = {},
): Promise<AwsJsonServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    void serveAwsJson(service, req, res);
  });
  const { url } = await listen(server, host, options.port ?? 0);
  return {
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
