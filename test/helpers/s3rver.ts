import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { generateCredentials, type LocalCredentials } from '#local/credentials.ts';
import { localS3Client, startLocalS3 } from '#local/s3.ts';

export interface S3rverHandle {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** A client set up for s3rver: path-style, checksums only when required, signed with `credentials`. */
  client: S3Client;
  /** The only key the stand-in accepts (fresh for each server). */
  credentials: LocalCredentials;
  /** A bucket that exists from the start. */
  bucket: string;
  /** Stops the server and deletes its temporary directory. */
  close(): Promise<void>;
}

/**
 * Starts s3rver on a free loopback port with a fresh temporary directory and one bucket: the
 * local runtime's S3 stand-in. Call it in `beforeAll` and `close()` in `afterAll`.
 */
export async function startS3rver(bucket = 'stepline-test-artifacts'): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'stepline-s3rver-'));
  const credentials = generateCredentials();
  const s3 = await startLocalS3({ directory, bucket, credentials });
  const client = localS3Client(s3.endpoint, credentials);
  return {
    endpoint: s3.endpoint,
    client,
    credentials,
    bucket,
    async close() {
      client.destroy();
      await s3.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Reads a whole object into a Buffer. */
export async function getObjectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`s3://${bucket}/${key} has no body`);
  return Buffer.from(await out.Body.transformToByteArray());
}
