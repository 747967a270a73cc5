import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCredentials } from '#local/credentials.ts';
import { localRegion, localS3Client } from '#local/s3.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { boto3, runPython } from './python.ts';

let s3: S3rverHandle;
beforeAll(async () => {
  s3 = await startS3rver();
  await s3.client.send(
    new PutObjectCommand({
      Bucket: s3.bucket,
      Key: 'caches/acme/api/branch/main/cache.tar.gz',
      Body: 'real',
    }),
  );
});
afterAll(() => s3?.close());

const errorCode = (xml: string) => /<Code>([^<]+)<\/Code>/.exec(xml)?.[1];

describe('the local S3 answers only requests signed with the data directory credentials', () => {
  it('refuses an unsigned PUT into a branch cache, as the build that wrote one with curl did', async () => {
    const url = `${s3.endpoint}/${s3.bucket}/caches/acme/api/branch/main/cache.tar.gz`;
    const put = await fetch(url, { method: 'PUT', body: 'poisoned' });
    expect(put.status).toBe(403);
    expect(errorCode(await put.text())).toBe('AccessDenied');
    const stored = await s3.client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: 'caches/acme/api/branch/main/cache.tar.gz' }),
    );
    expect(await stored.Body?.transformToString()).toBe('real');
  });

  it('refuses an unsigned GET, DELETE and List', async () => {
    const key = `${s3.endpoint}/${s3.bucket}/caches/acme/api/branch/main/cache.tar.gz`;
    for (const [method, url] of [
      ['GET', key],
      ['DELETE', key],
      ['GET', `${s3.endpoint}/${s3.bucket}?list-type=2`],
      ['GET', `${s3.endpoint}/`],
    ] as const) {
      const response = await fetch(url, { method });
      expect({ method, url, status: response.status }).toEqual({ method, url, status: 403 });
      expect(errorCode(await response.text())).toBe('AccessDenied');
    }
  });

  it('refuses the SDK signing with a wrong secret (SignatureDoesNotMatch) or another key id (InvalidAccessKeyId)', async () => {
    const wrongSecret = new S3Client({
      endpoint: s3.endpoint,
      region: localRegion,
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: s3.credentials.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    await expect(wrongSecret.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).rejects.toMatchObject({
      name: 'SignatureDoesNotMatch',
      $metadata: { httpStatusCode: 403 },
    });
    const otherKey = new S3Client({
      endpoint: s3.endpoint,
      region: localRegion,
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    await expect(
      otherKey.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'x', Body: 'x' })),
    ).rejects.toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
    wrongSecret.destroy();
    otherKey.destroy();
  });

  it('refuses a signature older than 15 minutes', async () => {
    const skewed = new S3Client({
      endpoint: s3.endpoint,
      region: localRegion,
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: s3.credentials,
      systemClockOffset: -20 * 60 * 1000,
    });
    await expect(skewed.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).rejects.toMatchObject({
      name: 'RequestTimeTooSkewed',
    });
    skewed.destroy();
  });

  it('stores and reads keys with spaces and plus signs through the signed SDK client', async () => {
    const client = localS3Client(s3.endpoint, s3.credentials);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'a b/c+d é.txt', Body: 'odd key' }));
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'a b/c+d é.txt' }));
    expect(await got.Body?.transformToString()).toBe('odd key');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'a b/' }));
    expect(listed.Contents?.map((item) => item.Key)).toEqual(['a b/c+d é.txt']);
    client.destroy();
  });

  it.skipIf(!boto3.available)(
    'works with boto3 (header signatures and a presigned URL), and refuses boto3 with a wrong secret',
    async () => {
      const script = `
import boto3, json, sys, urllib.request, urllib.error
from botocore.config import Config
endpoint, bucket, key_id, secret = sys.argv[1:5]
def client(secret):
    return boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=key_id,
        aws_secret_access_key=secret, config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
s3 = client(secret)
s3.put_object(Bucket=bucket, Key='boto/x y.txt', Body=b'from boto3')
body = s3.get_object(Bucket=bucket, Key='boto/x y.txt')['Body'].read().decode()
keys = [o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix='boto/')['Contents']]
url = s3.generate_presigned_url('get_object', Params={'Bucket': bucket, 'Key': 'boto/x y.txt'}, ExpiresIn=60)
presigned = urllib.request.urlopen(url).read().decode()
try:
    urllib.request.urlopen(url.replace('X-Amz-Signature=', 'X-Amz-Signature=0'))
    tampered = 200
except urllib.error.HTTPError as e:
    tampered = e.code
try:
    client('wrong').list_objects_v2(Bucket=bucket)
    wrong = 'accepted'
except Exception as e:
    wrong = e.response['Error']['Code']
print(json.dumps({'body': body, 'keys': keys, 'presigned': presigned, 'tampered': tampered, 'wrong': wrong}))
`;
      const out = await runPython(script, [
        s3.endpoint,
        s3.bucket,
        s3.credentials.accessKeyId,
        s3.credentials.secretAccessKey,
      ]);
      expect(out).toEqual({
        body: 'from boto3',
        keys: ['boto/x y.txt'],
        presigned: 'from boto3',
        tampered: 403,
        wrong: 'SignatureDoesNotMatch',
      });
    },
  );

  it('fresh credentials each time: a key pair made for another data directory is refused', async () => {
    const other = localS3Client(s3.endpoint, generateCredentials());
    await expect(other.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).rejects.toMatchObject({
      name: 'InvalidAccessKeyId',
    });
    other.destroy();
  });
});
