import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectWriter } from '#functions/fetch-source/s3-object-writer.ts';
import { getObjectBytes, type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';

describe('S3ObjectWriter', () => {
  let s3: S3rverHandle;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => {
    await s3?.close();
  });

  const writerFor = (key: string) =>
    new S3ObjectWriter({
      s3: s3.client,
      bucket: s3.bucket,
      key,
      contentType: 'application/octet-stream',
      maxBytes: 64 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
    });

  it('stores a stream larger than one part as a multipart upload', async () => {
    const data = randomBytes(11 * 1024 * 1024 + 123);
    const writer = writerFor('multipart.bin');

    for (let offset = 0; offset < data.length; offset += 1024 * 1024) {
      await writer.write(data.subarray(offset, offset + 1024 * 1024));
    }
    const size = await writer.complete();

    expect(size).toBe(data.length);
    expect((await getObjectBytes(s3.client, s3.bucket, 'multipart.bin')).equals(data)).toBe(true);
  });

  it('stores a small stream with one PutObject', async () => {
    const writer = writerFor('small.bin');

    await writer.write(Buffer.from('hello '));
    await writer.write(Buffer.from('world'));
    await writer.complete();

    expect((await getObjectBytes(s3.client, s3.bucket, 'small.bin')).toString()).toBe('hello world');
  });

  it('writes nothing under the key when aborted before completing', async () => {
    const writer = writerFor('aborted.bin');

    await writer.write(Buffer.from('partial'));
    await writer.abort();

    await expect(getObjectBytes(s3.client, s3.bucket, 'aborted.bin')).rejects.toThrow();
  });
});
