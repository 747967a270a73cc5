import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as tar from 'tar';

type S3 = Pick<S3Client, 'send'>;

/** The object's body, or `undefined` when there is no such key. */
export async function getObject(s3: S3, bucket: string, key: string): Promise<Readable | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return out.Body as Readable;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export async function objectExists(s3: S3, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Streams a (gzipped) tarball from S3 into `dir`. node-tar's defaults stay on: entries with `..`
 * or an absolute path are refused and nothing is written through a symlink. Returns `false` when
 * there is no such object.
 */
export async function unpackObject(
  s3: S3,
  bucket: string,
  key: string,
  dir: string,
  onWarning: (message: string) => void,
): Promise<boolean> {
  const body = await getObject(s3, bucket, key);
  if (!body) return false;
  await pipeline(body, tar.x({ cwd: dir, onwarn: (_code, message) => onWarning(String(message)) }));
  return true;
}

/** Writes a gzipped tarball of `paths` (relative to `cwd`) to `file`; returns its size in bytes. */
export async function packToFile(cwd: string, paths: string[], file: string): Promise<number> {
  // node-tar refuses an empty list; an empty archive is two zero blocks.
  if (paths.length === 0) await writeFile(file, gzipSync(Buffer.alloc(1024)));
  else await tar.c({ gzip: true, cwd, file, portable: true }, paths);
  return (await stat(file)).size;
}

/** Uploads a local file; the length is sent up front, as S3 requires for a streamed body. */
export async function putFile(s3: S3, bucket: string, key: string, file: string): Promise<void> {
  const { size } = await stat(file);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: createReadStream(file),
      ContentLength: size,
      ContentType: 'application/gzip',
    }),
  );
}

export async function readObjectText(s3: S3, bucket: string, key: string): Promise<string | undefined> {
  const body = await getObject(s3, bucket, key);
  if (!body) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || status === 404;
}
