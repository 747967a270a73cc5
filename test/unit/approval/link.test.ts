import { describe, expect, it } from 'vitest';
import {
  approvalLink,
  newApprovalId,
  parseApprovalLink,
  signApproval,
  verifyApproval,
} from '#shared/approval/link.ts';

const key = 'k'.repeat(64);
const fields = { id: 'AAAAAAAAAAAAAAAAAAAAAA', approver: 'alice@example.com', expires: 1_900_000_000 };

describe('approval link signatures', () => {
  it('verifies a signature made with the same key over the same fields', () => {
    expect(verifyApproval(key, fields, signApproval(key, fields))).toBe(true);
  });

  it('refuses a signature made with another key', () => {
    expect(verifyApproval(key, fields, signApproval('other-key', fields))).toBe(false);
  });

  it('binds the approver: a signature for alice does not verify for carol', () => {
    const sig = signApproval(key, fields);
    expect(verifyApproval(key, { ...fields, approver: 'carol@example.com' }, sig)).toBe(false);
  });

  it('binds the expiry and the id', () => {
    const sig = signApproval(key, fields);
    expect(verifyApproval(key, { ...fields, expires: fields.expires + 1 }, sig)).toBe(false);
    expect(verifyApproval(key, { ...fields, id: 'BAAAAAAAAAAAAAAAAAAAAA' }, sig)).toBe(false);
  });

  it('refuses a signature of the wrong shape without comparing it', () => {
    expect(verifyApproval(key, fields, 'short')).toBe(false);
    expect(verifyApproval(key, fields, `${signApproval(key, fields)}=`)).toBe(false);
  });

  it('refuses an approver with a line break, which could blur the signed fields', () => {
    const sig = signApproval(key, { ...fields, approver: 'a@example.com\n1' });
    expect(verifyApproval(key, { ...fields, approver: 'a@example.com\n1' }, sig)).toBe(false);
  });
});

describe('approval links', () => {
  it('puts id, approver, expiry and signature in the link, and no task token', () => {
    const link = approvalLink('https://api.example/prod/', key, fields);
    const parsed = parseApprovalLink(link)!;

    expect(
      link.startsWith(
        `https://api.example/prod/approvals/${fields.id}?approver=alice%40example.com&expires=`,
      ),
    ).toBe(true);
    expect(parsed).toMatchObject({ id: fields.id, approver: fields.approver, expires: fields.expires });
    expect(verifyApproval(key, parsed, parsed.sig)).toBe(true);
  });

  it('makes url-safe ids of 22 characters that differ each time', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newApprovalId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('does not take a URL without the signed fields for an approval link', () => {
    expect(
      parseApprovalLink('https://api.example/approvals/AAAAAAAAAAAAAAAAAAAAAA?approver=a'),
    ).toBeUndefined();
    expect(parseApprovalLink('not a url')).toBeUndefined();
  });
});
