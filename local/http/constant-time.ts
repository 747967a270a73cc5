import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares two strings in time that depends only on their lengths (both are hashed to 32 bytes first). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right) && a.length === b.length;
}
