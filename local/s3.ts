import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';

/** The part of s3rver's API the local runtime uses (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

/** Credentials the local stand-ins accept; they are not secrets. */
// s3rver accepts only this key pair; the local Step Functions endpoint accepts any.
export const localCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const localRegion = 'us-east-1';

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  close(): Promise<void>;
}

/** S3 stand-in: s3rver on a loopback port, objects kept under `directory`. */
export async function startLocalS3(options: {
  directory: string;
  bucket: string;
  host?: string;
}): Promise<LocalS3> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: options.host ?? '127.0.0.1',
    port: 0,
    silent: true,
    directory: options.directory,
    configureBuckets: [{ name: options.bucket }],
  });
  const { address, port } = await server.run();
  return { endpoint: `http://${address}:${port}`, bucket: options.bucket, close: () => server.close() };
}

/**
 * An S3 client for s3rver: path-style addressing, and checksums only when required (otherwise
 * streamed bodies are stored corrupted).
 */
export function localS3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: localRegion,
    credentials: localCredentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
