import type { IncomingMessage } from 'node:http';

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`request body is over the ${limitBytes}-byte limit`);
  }
}

/**
 * Reads a request body, refusing it as soon as it passes `limitBytes` (from `content-length`
 * before reading, or while counting chunks) so an oversized body is never held in memory. The
 * rest of a refused body is read and dropped while the 413 goes out, so a client that is still
 * sending reads the answer instead of a reset; past another `limitBytes` the connection is cut.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let refused = false;
    const refuse = () => {
      refused = true;
      chunks.length = 0;
      reject(new BodyTooLargeError(limitBytes));
    };
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (refused) {
        if (received > 2 * limitBytes) req.destroy();
        return;
      }
      if (received > limitBytes) return refuse();
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) resolve(Buffer.concat(chunks, received));
    });
    req.on('error', (error) => {
      if (!refused) reject(error);
    });
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limitBytes) refuse();
  });
}
