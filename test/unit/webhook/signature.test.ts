import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expectedSignature, verifySignature } from '#functions/webhook/signature.ts';

const body = Buffer.from('{"ref":"refs/heads/main"}');
const hex = createHmac('sha256', 's3cret').update(body).digest('hex');

describe('verifySignature', () => {
  it('accepts the sha256=<hex> form GitHub and Bitbucket send', () => {
    expect(verifySignature('hmac-sha256-prefixed', `sha256=${hex}`, 's3cret', body)).toBe(true);
  });

  it('accepts upper-case hex', () => {
    expect(verifySignature('hmac-sha256-prefixed', `sha256=${hex.toUpperCase()}`, 's3cret', body)).toBe(true);
  });

  it('refuses the bare hex where the prefix is expected', () => {
    expect(verifySignature('hmac-sha256-prefixed', hex, 's3cret', body)).toBe(false);
  });

  it('accepts the bare hex Gitea and Forgejo send', () => {
    expect(verifySignature('hmac-sha256-hex', hex, 's3cret', body)).toBe(true);
  });

  it('refuses a signature made with another secret', () => {
    expect(
      verifySignature('hmac-sha256-hex', expectedSignature('hmac-sha256-hex', 'other', body), 's3cret', body),
    ).toBe(false);
  });

  it('refuses a signature of other bytes', () => {
    expect(verifySignature('hmac-sha256-hex', hex, 's3cret', Buffer.from(`${body.toString()} `))).toBe(false);
  });

  it('refuses signatures of any other length without throwing', () => {
    for (const given of ['', 'sha256=', `sha256=${hex}00`, 'x'.repeat(10_000)])
      expect(verifySignature('hmac-sha256-prefixed', given, 's3cret', body)).toBe(false);
  });

  it('compares a GitLab token exactly, case included', () => {
    expect(verifySignature('token', 'Token-1', 'Token-1', body)).toBe(true);
    expect(verifySignature('token', 'token-1', 'Token-1', body)).toBe(false);
  });
});
