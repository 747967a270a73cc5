import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer';
import { z } from 'zod';
import { listen } from '#local/http/listen.ts';
import { BodyTooLargeError, readBody } from '#local/http/read-body.ts';
import { type AccessKey, SigV4Error, sigV4JsonError, verifySigV4 } from '#local/http/sigv4.ts';
import { formatPath } from '#shared/format-zod-error.ts';
import { findLinks, readMessage } from './mime.ts';

/** One message the stand-in "sent": where it was written and what a reader needs from it. */
export interface SentEmail {
  messageId: string;
  from: string | undefined;
  /** Every recipient: To, Cc and Bcc. */
  to: string[];
  subject: string;
  /** The `.eml` file in the outbox. */
  path: string;
  /** The http(s) links in the text part (the HTML part when there is no text part). */
  links: string[];
}

export interface LocalSes {
  /** `http://127.0.0.1:<port>`: give it to the SESv2 client as `endpoint` (or `AWS_ENDPOINT_URL_SESV2`). */
  endpoint: string;
  outboxDir: string;
  /** Emits `email` once a message's `.eml` is on disk. */
  events: EventEmitter<{ email: [SentEmail] }>;
  /** Calls `listener` for each message from now on; returns the unsubscribe function. */
  onEmail(listener: (email: SentEmail) => void): () => void;
  close(): Promise<void>;
}

export interface LocalSesOptions {
  outboxDir: string;
  /** @default "127.0.0.1" */
  host?: string;
  /** @default 0 (any free port) */
  port?: number;
  /** @default () => new Date() */
  now?: () => Date;
  /** The only access key whose SigV4 signatures are accepted (the data directory's). */
  credentials: AccessKey;
}

const maxBodyBytes = 40 * 1024 * 1024;

const Content = z.object({ Data: z.string(), Charset: z.string().optional() });
const Addresses = z.array(z.string().min(1)).optional();

/** The parts of SES v2 `SendEmail` the stand-in delivers: Simple and Raw content. */
const SendEmailRequest = z.object({
  FromEmailAddress: z.string().min(1).optional(),
  Destination: z
    .object({ ToAddresses: Addresses, CcAddresses: Addresses, BccAddresses: Addresses })
    .optional(),
  ReplyToAddresses: Addresses,
  Content: z
    .object({
      Simple: z
        .object({
          Subject: Content,
          Body: z.object({ Text: Content.optional(), Html: Content.optional() }),
          Headers: z.array(z.object({ Name: z.string().min(1), Value: z.string() })).optional(),
        })
        .optional(),
      Raw: z.object({ Data: z.string().min(1) }).optional(),
      Template: z.unknown().optional(),
    })
    .refine((c) => [c.Simple, c.Raw, c.Template].filter(Boolean).length === 1, {
      message: 'exactly one of Simple, Raw or Template is required',
    }),
});
type SendEmailRequest = z.infer<typeof SendEmailRequest>;

class SesError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Message ids shaped like SES's (`0100…-uuid-000000`). */
function newMessageId(now: Date): string {
  return `0100${now.getTime().toString(16).padStart(12, '0')}-${randomUUID()}-000000`;
}

function stamp(date: Date): string {
  return date.toISOString().replace(/[:.]/g, '-');
}

/**
 * The local stand-in for Amazon SES v2: a loopback endpoint speaking the SES v2 REST-JSON protocol
 * for `SendEmail` (`POST /v2/email/outbound-emails`), so `@aws-sdk/client-sesv2` (or boto3's
 * `sesv2`) works unchanged with `endpoint`. Each message is written, as the MIME message SES would
 * send, to `<outbox>/<time>-<messageId>.eml` (owner-only: approval links are capabilities), and
 * then announced on `events`. Only requests signed (SigV4) with `credentials` are answered; others
 * get SES's `MissingAuthenticationTokenException`, `UnrecognizedClientException` or
 * `InvalidSignatureException`.
 */
export async function startLocalSes(options: LocalSesOptions): Promise<LocalSes> {
  const outboxDir = options.outboxDir;
  await mkdir(outboxDir, { recursive: true, mode: 0o700 });
  const now = options.now ?? (() => new Date());
  const events = new EventEmitter<{ email: [SentEmail] }>();

  const deliver = async (request: SendEmailRequest): Promise<SentEmail> => {
    const date = now();
    const messageId = newMessageId(date);
    const destination = request.Destination ?? {};
    let message: Buffer;
    let recipients = [
      ...(destination.ToAddresses ?? []),
      ...(destination.CcAddresses ?? []),
      ...(destination.BccAddresses ?? []),
    ];
    let from = request.FromEmailAddress;
    if (request.Content.Simple) {
      const simple = request.Content.Simple;
      if (!from)
        throw new SesError('BadRequestException', 400, 'FromEmailAddress is required for Simple content');
      if (recipients.length === 0)
        throw new SesError('BadRequestException', 400, 'Destination needs at least one address');
      const headers: Record<string, string> = {};
      for (const header of simple.Headers ?? []) headers[header.Name] = header.Value;
      message = await new MailComposer({
        from,
        ...(destination.ToAddresses?.length ? { to: destination.ToAddresses } : {}),
        ...(destination.CcAddresses?.length ? { cc: destination.CcAddresses } : {}),
        ...(request.ReplyToAddresses?.length ? { replyTo: request.ReplyToAddresses } : {}),
        subject: simple.Subject.Data,
        ...(simple.Body.Text ? { text: simple.Body.Text.Data } : {}),
        ...(simple.Body.Html ? { html: simple.Body.Html.Data } : {}),
        messageId: `<${messageId}@email.amazonses.com>`,
        date,
        headers,
      })
        .compile()
        .build();
    } else if (request.Content.Raw) {
      message = Buffer.from(request.Content.Raw.Data, 'base64');
      const read = readMessage(message);
      if (recipients.length === 0) recipients = [...read.to, ...read.cc, ...read.bcc];
      from ??= read.from;
      if (!from) throw new SesError('BadRequestException', 400, 'the raw message has no From header');
      if (recipients.length === 0)
        throw new SesError('BadRequestException', 400, 'the raw message names no recipient');
    } else {
      throw new SesError(
        'BadRequestException',
        400,
        'Content.Template is not supported by the local SES stand-in; send Simple or Raw content',
      );
    }
    const path = join(outboxDir, `${stamp(date)}-${messageId}.eml`);
    await writeFile(path, message, { mode: 0o600 });
    const read = readMessage(message);
    const sent: SentEmail = {
      messageId,
      from,
      to: recipients,
      subject: read.subject,
      path,
      links: findLinks(read.text ?? read.html),
    };
    events.emit('email', sent);
    return sent;
  };

  const server = createServer((req, res) => {
    handle(req, res, deliver, options.credentials).catch((error: unknown) => {
      if (!res.headersSent) reply(res, 500, { message: String(error) }, 'InternalFailure');
      else res.destroy();
    });
  });
  const { url } = await listen(server, options.host ?? '127.0.0.1', options.port ?? 0);
  return {
    endpoint: url,
    outboxDir,
    events,
    onEmail(listener) {
      events.on('email', listener);
      return () => events.off('email', listener);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomBytes(16).toString('hex'),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(text);
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  deliver: (request: SendEmailRequest) => Promise<SentEmail>,
  credentials: AccessKey,
): Promise<void> {
  try {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'POST' || path !== '/v2/email/outbound-emails') {
      req.resume();
      throw new SesError(
        'NotFoundException',
        404,
        `${req.method} ${path} is not an operation of the local SES stand-in; it answers SendEmail (POST /v2/email/outbound-emails)`,
      );
    }
    if (req.headers.authorization === undefined) {
      req.resume();
      throw new SesError(
        'MissingAuthenticationTokenException',
        403,
        'the request is not signed (SigV4 Authorization header missing)',
      );
    }
    const body = await readBody(req, maxBodyBytes).catch((error: unknown) => {
      if (error instanceof BodyTooLargeError)
        throw new SesError('MessageRejected', 400, `the request is over ${error.limitBytes} bytes`);
      throw error;
    });
    try {
      await verifySigV4({ method: 'POST', url: req.url ?? '/', headers: req.headers, body }, credentials, {
        payload: 'body',
      });
    } catch (error) {
      if (!(error instanceof SigV4Error)) throw error;
      const { status, type } = sigV4JsonError(error);
      throw new SesError(type, status, error.message);
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8') || '{}');
    } catch (error) {
      throw new SesError('BadRequestException', 400, `the body is not JSON: ${(error as Error).message}`);
    }
    const parsed = SendEmailRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new SesError('BadRequestException', 400, `${formatPath(issue.path)}: ${issue.message}`);
    }
    const sent = await deliver(parsed.data);
    reply(res, 200, { MessageId: sent.messageId });
  } catch (error) {
    if (error instanceof SesError) return reply(res, error.status, { message: error.message }, error.type);
    throw error;
  }
}
