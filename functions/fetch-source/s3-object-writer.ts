import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { SourceFetchError } from '#shared/errors.ts';

export interface S3ObjectWriterOptions {
  s3: Pick<S3Client, 'send'>;
  bucket: string;
  key: string;
  contentType: string;
  /** Refuse to store more than this many bytes. */
  maxBytes: number;
  /** Bytes per multipart part; S3 needs at least 5 MiB for every part but the last. @default 8 MiB */
  partSize?: number;
}

/**
 * Writes a stream of unknown length to S3 without holding it all in memory: a small object is
 * one PutObject, a larger one a multipart upload. Nothing is visible under the key until
 * {@link S3ObjectWriter.complete}; {@link S3ObjectWriter.abort} discards what was sent.
 */
export class S3ObjectWriter {
  readonly #options: S3ObjectWriterOptions;
  readonly #partSize: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #total = 0;
  #uploadId: string | undefined;
  readonly #parts: { ETag: string; PartNumber: number }[] = [];

  constructor(options: S3ObjectWriterOptions) {
    this.#options = options;
    this.#partSize = options.partSize ?? 8 * 1024 * 1024;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#total;
  }

  async write(chunk: Buffer): Promise<void> {
    this.#total += chunk.length;
    if (this.#total > this.#options.maxBytes) {
      throw new SourceFetchError(
        `the source archive is larger than ${Math.round(this.#options.maxBytes / 1024 ** 2)} MiB compressed; Stepline refuses it`,
      );
    }
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes >= this.#partSize) await this.#uploadPart();
  }

  /** Makes the object visible; returns its size in bytes. */
  async complete(): Promise<number> {
    const { s3, bucket, key, contentType } = this.#options;
    if (this.#uploadId === undefined) {
      const body = this.#takePending();
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentType: contentType,
        }),
      );
      return this.#total;
    }
    if (this.#pendingBytes > 0) await this.#uploadPart();
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: this.#uploadId,
        MultipartUpload: { Parts: this.#parts },
      }),
    );
    return this.#total;
  }

  /** Discards a started multipart upload. Best effort: the bucket's lifecycle rule cleans up the rest. */
  async abort(): Promise<void> {
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#uploadId === undefined) return;
    const { s3, bucket, key } = this.#options;
    const uploadId = this.#uploadId;
    this.#uploadId = undefined;
    try {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    } catch {
      // The upload is already failing; its error is the one worth reporting.
    }
  }

  #takePending(): Buffer {
    const body = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    return body;
  }

  async #uploadPart(): Promise<void> {
    const { s3, bucket, key, contentType } = this.#options;
    if (this.#uploadId === undefined) {
      const created = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: contentType }),
      );
      if (!created.UploadId) throw new Error(`S3 returned no UploadId for s3://${bucket}/${key}`);
      this.#uploadId = created.UploadId;
    }
    const body = this.#takePending();
    const PartNumber = this.#parts.length + 1;
    const uploaded = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: this.#uploadId,
        PartNumber,
        Body: body,
        ContentLength: body.length,
      }),
    );
    if (!uploaded.ETag)
      throw new Error(`S3 returned no ETag for part ${PartNumber} of s3://${bucket}/${key}`);
    this.#parts.push({ ETag: uploaded.ETag, PartNumber });
  }
}
