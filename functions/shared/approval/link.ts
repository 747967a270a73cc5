import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';

/** An approval id: 16 random bytes, base64url (22 characters). It names `approvals/{id}.json`. */
export const ApprovalId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{22}$/, 'expected an approval id of 22 characters [A-Za-z0-9_-]');

/** A new random approval id; unguessable, so one id cannot be derived from another. */
export function newApprovalId(): string {
  return randomBytes(16).toString('base64url');
}

/** What an approval link binds together: which request, which approver, until when. */
export interface SignedFields {
  id: string;
  /** The approver's address exactly as configured and as it appears in the link. */
  approver: string;
  /** Seconds since the epoch after which the link is refused. */
  expires: number;
}

/** `expires` as it travels in a link: the decimal seconds since the epoch. */
export const Expires = z
  .string()
  .regex(/^[0-9]{1,12}$/, 'expected seconds since the epoch')
  .transform(Number);

/** A signature as it travels in a link: base64url of the 32-byte HMAC-SHA256. */
export const Signature = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'expected a base64url HMAC-SHA256 of 43 characters');

/**
 * The signed message. A version prefix and newlines keep the fields apart: no approver address
 * contains a newline (the link parser refuses one), so no two field tuples sign the same bytes.
 */
function message(fields: SignedFields): string {
  return `stepline-approval-v1\n${fields.id}\n${fields.approver}\n${fields.expires}`;
}

/** The base64url HMAC-SHA256 of the link's fields under `key`. */
export function signApproval(key: string, fields: SignedFields): string {
  return createHmac('sha256', key).update(message(fields)).digest('base64url');
}

/**
 * Whether `signature` was made with `key` over exactly these fields. A signature of the wrong shape
 * is refused at once (the shape is public); a well-formed one is compared in constant time.
 */
export function verifyApproval(key: string, fields: SignedFields, signature: string): boolean {
  if (!Signature.safeParse(signature).success || /[\r\n]/.test(fields.approver)) return false;
  const given = Buffer.from(signature, 'base64url');
  const expected = createHmac('sha256', key).update(message(fields)).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The link an approver gets: `<base>/approvals/{id}?approver=…&expires=…&sig=…`. The task token is
 * not in it: the id names the server-side record that holds it.
 */
export function approvalLink(baseUrl: string, key: string, fields: SignedFields): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/approvals/${encodeURIComponent(fields.id)}`);
  url.searchParams.set('approver', fields.approver);
  url.searchParams.set('expires', String(fields.expires));
  url.searchParams.set('sig', signApproval(key, fields));
  return url.toString();
}

/** The parts of an approval link; `undefined` when the URL is not one. */
export function parseApprovalLink(
  link: string,
): { url: URL; id: string; approver: string; expires: number; sig: string } | undefined {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    return undefined;
  }
  const found = /\/approvals\/([A-Za-z0-9_-]{22})$/.exec(url.pathname);
  const approver = url.searchParams.get('approver');
  const expires = Expires.safeParse(url.searchParams.get('expires') ?? '');
  const sig = url.searchParams.get('sig');
  if (!found || !approver || !expires.success || !sig) return undefined;
  return { url, id: found[1]!, approver, expires: expires.data, sig };
}
