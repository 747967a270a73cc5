import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { S3Client } from '@aws-sdk/client-s3';
import { listen } from '#local/http/listen.ts';
import {
  type AccessKey,
  isPresigned,
  SigV4Error,
  sigV4S3Error,
  verifySigV4,
  withoutPresignParams,
} from '#local/http/sigv4.ts';

/** The part of s3rver's API the local runtime uses (the package ships no types). */
interface S3rverInstance {
  /** Creates `configureBuckets` (what `run()` does before it listens). */
  configureBuckets(): Promise<void>;
  /** Its Koa app as a `node:http` request listener. */
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  logger: { close(): void; exceptions: { unhandle(): void } };
}
type S3rverConstructor = new (options: {
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

export const localRegion = 'us-east-1';

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  close(): Promise<void>;
}

function sendS3Error(res: ServerResponse, status: number, code: string, message: string, head: boolean) {
  const xmlText = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlText(message)}</Message><RequestId>${randomUUID()}</RequestId></Error>`;
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    // The body of a refused upload is not read.
    connection: 'close',
  });
  res.end(head ? undefined : body);
}

/**
 * S3 stand-in: s3rver's request handler behind a loopback server of our own that answers only
 * requests signed (SigV4, header or presigned URL) with `credentials`; s3rver itself listens
 * nowhere. Objects are kept under `directory`. A refused request gets S3's XML error
 * (`AccessDenied`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `RequestTimeTooSkewed`).
 */
export async function startLocalS3(options: {
  directory: string;
  bucket: string;
  credentials: AccessKey;
  host?: string;
}): Promise<LocalS3> {
  await mkdir(options.directory, { recursive: true });
  const s3rver = new S3rver({
    silent: true,
    directory: options.directory,
    configureBuckets: [{ name: options.bucket }],
  });
  await s3rver.configureBuckets();
  const app = s3rver.callback();
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const presigned = req.headers.authorization === undefined && isPresigned(url);
    verifySigV4({ method: req.method ?? 'GET', url, headers: req.headers }, options.credentials, {
      payload: 'header',
      uriEscapePath: false,
    }).then(
      () => {
        // s3rver knows only its own key pair: it gets the request as an anonymous one.
        delete req.headers.authorization;
        if (presigned) req.url = withoutPresignParams(url);
        app(req, res);
      },
      (error: unknown) => {
        if (!(error instanceof SigV4Error)) {
          sendS3Error(res, 500, 'InternalError', String(error), req.method === 'HEAD');
          return;
        }
        const { status, code } = sigV4S3Error(error, presigned);
        sendS3Error(res, status, code, error.message, req.method === 'HEAD');
      },
    );
  });
  const { url } = await listen(server, options.host ?? '127.0.0.1', 0);
  return {
    endpoint: url,
    bucket: options.bucket,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          s3rver.logger.exceptions.unhandle();
          s3rver.logger.close();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/**
 * An S3 client for s3rver: path-style addressing, and checksums only when required (otherwise
 * streamed bodies are stored corrupted).
 */
export function localS3Client(endpoint: string, credentials: AccessKey): S3Client {
  return new S3Client({
    endpoint,
    region: localRegion,
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
