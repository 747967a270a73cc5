import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';

/** Messages a logger would write; tests keep them out of the output. */
export const silentLogger = { info() {}, warn() {}, error() {} };

function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/**
 * S3 as a map of keys to bodies behind `aws-sdk-client-mock`: PutObject stores, GetObject reads
 * (NoSuchKey when absent), so the code under test reads back what it wrote.
 */
export function mockS3Store() {
  const objects = new Map<string, string>();
  const mock = mockClient(S3Client);
  mock.on(PutObjectCommand).callsFake(async (input: { Key: string; Body: string }) => {
    objects.set(input.Key, String(input.Body));
    return {};
  });
  mock.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
    const body = objects.get(input.Key);
    if (body === undefined) throw named('NoSuchKey', 'The specified key does not exist.');
    return { Body: { transformToString: async () => body } };
  });
  return { mock, objects, client: new S3Client({ region: 'eu-west-1' }) };
}

export { named };
