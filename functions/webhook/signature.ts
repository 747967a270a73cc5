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
 * Checks a signature header against the raw body bytes in constant time. For the HMAC schemes the
 * header must be a well-formed hex SHA-256 digest (its shape is public, so refusing a malformed one
 * at once reveals nothing); its 32 bytes are then compared with the expected digest by
 * `timingSafeEqual`. A shared token can have any length, so both sides are hashed to 32 bytes
 * first and nothing returns early on a length difference.
 */
export function verifySignature(
  scheme: SignatureScheme,
  provided: string,
  secret: string,
  body: Buffer,
): boolean {
  if (scheme === 'token') return timingSafeEqual(digest(provided), digest(secret));
  const hex = scheme === 'hmac-sha256-prefixed' ? withoutPrefix(provided.trim()) : provided.trim();
  if (hex === undefined || !hexDigest.test(hex)) return false;
  return timingSafeEqual(Buffer.from(hex, 'hex'), createHmac('sha256', secret).update(body).digest());
}

const hexDigest = /^[0-9a-fA-F]{64}$/;

function withoutPrefix(header: string): string | undefined {
  return header.slice(0, 7).toLowerCase() === 'sha256=' ? header.slice(7) : undefined;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
