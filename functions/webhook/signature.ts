import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** How a provider proves a delivery: an HMAC of the raw body, or the shared secret itself. */
export type SignatureScheme =
  /** `sha256=<hex HMAC-SHA256>` (GitHub `X-Hub-Signature-256`, Bitbucket Cloud `X-Hub-Signature`). */
  | 'hmac-sha256-prefixed'
  /** `<hex HMAC-SHA256>` (Gitea `X-Gitea-Signature`, Forgejo `X-Forgejo-Signature`). */
  | 'hmac-sha256-hex'
  /** The secret verbatim (GitLab `X-Gitlab-Token`). */
  | 'token';

/** The hex HMAC-SHA256 of `body` under `secret`, as the HMAC providers compute it. */
export function hmacSha256Hex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** What a provider would put in its signature header for `body` signed with `secret`. */
export function expectedSignature(scheme: SignatureScheme, secret: string, body: Buffer): string {
  switch (scheme) {
    case 'hmac-sha256-prefixed':
      return `sha256=${hmacSha256Hex(secret, body)}`;
    case 'hmac-sha256-hex':
      return hmacSha256Hex(secret, body);
    case 'token':
      return secret;
  }
}

/**
 * Checks a signature header against the raw body bytes in constant time. Both sides are hashed
 * to 32-byte digests before `timingSafeEqual`, so a header of any length or shape is compared
 * the same way and nothing returns early on a length difference.
 */
export function verifySignature(
  scheme: SignatureScheme,
  provided: string,
  secret: string,
  body: Buffer,
): boolean {
  const expected = expectedSignature(scheme, secret, body);
  // Hex digests are case-insensitive; the token is not.
  const given = scheme === 'token' ? provided : provided.trim().toLowerCase();
  return timingSafeEqual(digest(given), digest(expected));
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
