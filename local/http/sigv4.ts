import { createHash, createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { constantTimeEqual } from '#local/http/constant-time.ts';

/** An access key pair, as the AWS SDKs take it. */
export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Why a request was refused. Each protocol answers with its own error shape:
 * `sigV4JsonError` (AWS JSON), `sigV4S3Error` (S3 XML).
 */
export type SigV4Reason =
  /** Neither an `Authorization` header nor a presigned query string. */
  | 'missing'
  /** An `Authorization` header or query string that is not SigV4, or lacks a part. */
  | 'malformed'
  /** Signed with an access key id the stand-in does not know. */
  | 'unknown-key'
  /** `x-amz-date` more than 15 minutes away from now, or a presigned URL past its expiry. */
  | 'expired'
  /** The signature is not the one the secret gives. */
  | 'mismatch';

export class SigV4Error extends Error {
  override readonly name = 'SigV4Error';
  constructor(
    readonly reason: SigV4Reason,
    message: string,
  ) {
    super(message);
  }
}

/** The parts of a request the signature covers, as they came over the wire. */
export interface IncomingSignedRequest {
  method: string;
  /** `req.url`: the path as sent (still percent-encoded) and the query string. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The whole body, for protocols whose payload hash is the body's (AWS JSON, SES v2). */
  body?: Uint8Array;
}

export interface VerifyOptions {
  /**
   * `body`: the payload hash is the SHA-256 of `body` (every service but S3).
   * `header`: the payload hash is `x-amz-content-sha256` as sent (S3: a hex SHA-256,
   * `UNSIGNED-PAYLOAD` or `STREAMING-…`), which must be present.
   */
  payload: 'body' | 'header';
  /** S3 signs the path as sent; every other service encodes it once more. @default true */
  uriEscapePath?: boolean;
  /** @default Date.now */
  now?: () => number;
}

/** Who signed a request that verified. */
export interface VerifiedSigner {
  accessKeyId: string;
  region: string;
  service: string;
}

/** How far `x-amz-date` may be from the server's clock, as on AWS. */
export const maxClockSkewMs = 15 * 60 * 1000;
/** SigV4 presigned URLs last a week at most. */
const maxPresignedSeconds = 7 * 24 * 60 * 60;
const algorithm = 'AWS4-HMAC-SHA256';
const presignParams = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
];

/** SHA-256 (and HMAC-SHA-256 with a key) in the shape `@smithy/signature-v4` takes. */
export class NodeSha256 {
  #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }
  reset(): void {
    throw new Error('NodeSha256 cannot be reset');
  }
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** `20250102T030405Z` → Date, or undefined when it is not that shape. */
function parseAmzDate(value: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  if (!m) return undefined;
  const date = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The query string as SigV4 canonicalizes it: each key and value percent-decoded, repeated keys kept. */
function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const part of search.split('&')) {
    if (part === '') continue;
    const at = part.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(at < 0 ? part : part.slice(0, at));
      value = at < 0 ? '' : decodeURIComponent(part.slice(at + 1));
    } catch {
      throw new SigV4Error('malformed', `the query string has a malformed percent escape: ${part}`);
    }
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else query[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return query;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

function parseCredential(value: string): Credential {
  const parts = value.split('/');
  const [accessKeyId, date, region, service, terminator] = parts;
  if (parts.length !== 5 || !accessKeyId || !date || !region || !service || terminator !== 'aws4_request')
    throw new SigV4Error(
      'malformed',
      `the credential "${value}" is not <access key id>/<yyyymmdd>/<region>/<service>/aws4_request`,
    );
  return { accessKeyId, date, region, service };
}

/** The SigV4 parts of an `Authorization` header or of a presigned query string. */
interface Presented {
  credential: Credential;
  signedHeaders: string[];
  signature: string;
  date: Date;
  longDate: string;
  /** Seconds, for a presigned URL. */
  expires?: number;
}

function fromAuthorization(header: string, headers: IncomingHttpHeaders): Presented {
  if (!header.startsWith(`${algorithm} `))
    throw new SigV4Error(
      'malformed',
      `the Authorization header must use ${algorithm} (Signature Version 4); it starts with "${header.split(' ')[0]}"`,
    );
  const fields: Record<string, string> = {};
  for (const part of header.slice(algorithm.length).split(',')) {
    const at = part.indexOf('=');
    if (at > 0) fields[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  const { Credential: credential, SignedHeaders: signed, Signature: signature } = fields;
  if (!credential || !signed || !signature)
    throw new SigV4Error(
      'malformed',
      'the Authorization header needs Credential=, SignedHeaders= and Signature= (the signature is incomplete)',
    );
  const longDate = headerValue(headers, 'x-amz-date') ?? '';
  const date = parseAmzDate(longDate);
  if (!date)
    throw new SigV4Error(
      'malformed',
      `a signed request needs the header x-amz-date as yyyymmddThhmmssZ, got "${longDate}"`,
    );
  return {
    credential: parseCredential(credential),
    signedHeaders: signed.split(';'),
    signature,
    date,
    longDate,
  };
}

function fromQuery(query: Record<string, string | string[]>): Presented {
  const one = (name: string) => {
    const value = query[name];
    return typeof value === 'string' ? value : undefined;
  };
  if (one('X-Amz-Algorithm') !== algorithm)
    throw new SigV4Error(
      'malformed',
      `X-Amz-Algorithm must be ${algorithm}, got "${one('X-Amz-Algorithm')}"`,
    );
  const credential = one('X-Amz-Credential');
  const signed = one('X-Amz-SignedHeaders');
  const signature = one('X-Amz-Signature');
  const longDate = one('X-Amz-Date') ?? '';
  const expires = Number(one('X-Amz-Expires'));
  const date = parseAmzDate(longDate);
  if (!credential || !signed || !signature || !date)
    throw new SigV4Error(
      'malformed',
      'a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature',
    );
  if (!Number.isInteger(expires) || expires < 1 || expires > maxPresignedSeconds)
    throw new SigV4Error(
      'malformed',
      `X-Amz-Expires must be a number of seconds from 1 to ${maxPresignedSeconds}, got "${one('X-Amz-Expires')}"`,
    );
  return {
    credential: parseCredential(credential),
    signedHeaders: signed.split(';'),
    signature,
    date,
    longDate,
    expires,
  };
}

/** Whether a request carries SigV4 in its query string (a presigned URL) rather than a header. */
export function isPresigned(url: string): boolean {
  const search = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  return /(^|&)X-Amz-Algorithm=/.test(search);
}

/** `url` without the presigned-URL parameters, for a backend that must not see them (s3rver). */
export function withoutPresignParams(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const kept = url
    .slice(at + 1)
    .split('&')
    .filter((part) => !presignParams.includes(part.split('=')[0] ?? ''));
  return kept.length > 0 ? `${url.slice(0, at)}?${kept.join('&')}` : url.slice(0, at);
}

/**
 * Checks a request's AWS Signature Version 4 (an `Authorization: AWS4-HMAC-SHA256 …` header or a
 * presigned query string) against `key`, by signing the same canonical request again with
 * `@smithy/signature-v4`, the AWS SDK's own signer, and comparing the two signatures in constant
 * time. The signed headers must include `host`; `x-amz-date` must be within 15 minutes of now (a
 * presigned URL: not before its date, not after its expiry). Throws `SigV4Error` naming what is
 * wrong; resolves with who signed.
 */
export async function verifySigV4(
  request: IncomingSignedRequest,
  key: AccessKey,
  options: VerifyOptions,
): Promise<VerifiedSigner> {
  const now = options.now?.() ?? Date.now();
  const at = request.url.indexOf('?');
  const path = at < 0 ? request.url : request.url.slice(0, at);
  const query = parseQuery(at < 0 ? '' : request.url.slice(at + 1));
  const authorization = headerValue(request.headers, 'authorization');
  const presigned = authorization === undefined && 'X-Amz-Algorithm' in query;
  if (authorization === undefined && !presigned)
    throw new SigV4Error(
      'missing',
      'the request is not signed: it needs an Authorization header with AWS Signature Version 4 (AWS4-HMAC-SHA256), made with the credentials in the data directory',
    );
  const presented = presigned ? fromQuery(query) : fromAuthorization(authorization ?? '', request.headers);
  const { credential } = presented;
  if (!constantTimeEqual(credential.accessKeyId, key.accessKeyId))
    throw new SigV4Error(
      'unknown-key',
      `the access key id ${credential.accessKeyId} is not this runtime's: sign with the credentials in the data directory's credentials.json`,
    );
  if (credential.date !== presented.longDate.slice(0, 8))
    throw new SigV4Error(
      'malformed',
      `the credential's date ${credential.date} is not the date of x-amz-date ${presented.longDate}`,
    );
  const signedAt = presented.date.getTime();
  if (presented.expires === undefined) {
    if (Math.abs(now - signedAt) > maxClockSkewMs)
      throw new SigV4Error(
        'expired',
        `Signature expired: ${presented.longDate} is more than 15 minutes away from the time now (${new Date(now).toISOString()})`,
      );
  } else if (now < signedAt - maxClockSkewMs || now > signedAt + presented.expires * 1000) {
    throw new SigV4Error(
      'expired',
      `Request has expired: the presigned URL was valid from ${presented.longDate} for ${presented.expires} seconds`,
    );
  }
  const signedHeaders = presented.signedHeaders.map((name) => name.trim().toLowerCase());
  if (!signedHeaders.includes('host'))
    throw new SigV4Error(
      'malformed',
      `the signed headers must include host; they are ${signedHeaders.join(';')}`,
    );
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = headerValue(request.headers, name);
    if (value === undefined)
      throw new SigV4Error('malformed', `the signed header ${name} is not in the request`);
    headers[name] = value;
  }
  const unsignableHeaders = new Set<string>();
  if (options.payload === 'header') {
    const hash = presigned ? 'UNSIGNED-PAYLOAD' : headerValue(request.headers, 'x-amz-content-sha256');
    if (hash === undefined)
      throw new SigV4Error('malformed', 'Missing required header for this request: x-amz-content-sha256');
    if (!/^(UNSIGNED-PAYLOAD|STREAMING-[A-Z0-9-]+|[0-9a-fA-F]{64})$/.test(hash))
      throw new SigV4Error(
        'malformed',
        `x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-…, or a sha256 in hex, got "${hash}"`,
      );
    if (!(presigned && signedHeaders.includes('x-amz-content-sha256')))
      headers['x-amz-content-sha256'] = hash;
    if (!signedHeaders.includes('x-amz-content-sha256')) unsignableHeaders.add('x-amz-content-sha256');
  } else {
    const body = request.body ?? new Uint8Array();
    const sent = headers['x-amz-content-sha256'];
    const actual = createHash('sha256').update(body).digest('hex');
    // A signed payload hash must be the body's: the signature covers the hash, not the bytes.
    if (sent !== undefined && sent !== actual)
      throw new SigV4Error('mismatch', 'x-amz-content-sha256 is not the SHA-256 of the body');
  }
  const signer = new SignatureV4({
    credentials: key,
    region: credential.region,
    service: credential.service,
    sha256: NodeSha256,
    uriEscapePath: options.uriEscapePath ?? true,
    applyChecksum: false,
  });
  const hostname = headers.host ?? '';
  const toSign = {
    method: request.method,
    protocol: 'http:',
    hostname,
    path,
    headers,
    ...(options.payload === 'body' ? { body: request.body ?? new Uint8Array() } : {}),
  };
  const signableHeaders = new Set(signedHeaders);
  let expected: string;
  if (presented.expires === undefined) {
    const signed = await signer.sign(
      { ...toSign, query },
      { signingDate: presented.date, signableHeaders, unsignableHeaders },
    );
    expected = /Signature=([0-9a-f]+)/.exec(signed.headers.authorization ?? '')?.[1] ?? '';
  } else {
    const unsigned = Object.fromEntries(
      Object.entries(query).filter(([name]) => !presignParams.includes(name)),
    );
    const signed = await signer.presign(
      { ...toSign, query: unsigned },
      {
        signingDate: presented.date,
        expiresIn: presented.expires,
        signableHeaders,
        unsignableHeaders,
        unhoistableHeaders: new Set([...signedHeaders, 'x-amz-content-sha256']),
      },
    );
    expected = String(signed.query?.['X-Amz-Signature'] ?? '');
  }
  if (!expected || !constantTimeEqual(expected, presented.signature.toLowerCase()))
    throw new SigV4Error(
      'mismatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  return { accessKeyId: credential.accessKeyId, region: credential.region, service: credential.service };
}

/** The AWS JSON protocol's answer to a refused signature: status and `__type`. */
export function sigV4JsonError(error: SigV4Error): { status: number; type: string } {
  switch (error.reason) {
    case 'missing':
      return { status: 403, type: 'MissingAuthenticationTokenException' };
    case 'malformed':
      return { status: 400, type: 'IncompleteSignatureException' };
    case 'unknown-key':
      return { status: 400, type: 'UnrecognizedClientException' };
    case 'expired':
      return { status: 400, type: 'InvalidSignatureException' };
    case 'mismatch':
      return { status: 403, type: 'InvalidSignatureException' };
  }
}

/** S3's answer to a refused signature: status and `<Code>`. */
export function sigV4S3Error(error: SigV4Error, presigned: boolean): { status: number; code: string } {
  switch (error.reason) {
    case 'missing':
      return { status: 403, code: 'AccessDenied' };
    case 'malformed':
      return {
        status: 400,
        code: presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed',
      };
    case 'unknown-key':
      return { status: 403, code: 'InvalidAccessKeyId' };
    case 'expired':
      return { status: 403, code: presigned ? 'AccessDenied' : 'RequestTimeTooSkewed' };
    case 'mismatch':
      return { status: 403, code: 'SignatureDoesNotMatch' };
  }
}
