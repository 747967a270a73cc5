import { execFile } from 'node:child_process';
import {
  BatchGetImageCommand,
  DescribeImagesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  ImageNotFoundException,
  RepositoryNotFoundException,
} from '@aws-sdk/client-ecr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaType } from '#shared/oci/types.ts';
import { makeImage, pushImage, putManifest, startTestRegistry, type TestRegistry } from './helpers.ts';

let registry: TestRegistry;
let ecr: ECRClient;

beforeEach(async () => {
  registry = await startTestRegistry();
  ecr = new ECRClient({
    endpoint: registry.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'any', secretAccessKey: 'any' },
    maxAttempts: 1,
  });
});

afterEach(async () => {
  ecr.destroy();
  await registry.remove();
});

describe('the ECR JSON API of the local registry, with @aws-sdk/client-ecr', () => {
  it('hands out Basic credentials AWS:<password> that push to the registry', async () => {
    const before = Date.now();

    const { authorizationData } = await ecr.send(new GetAuthorizationTokenCommand({}));

    const data = authorizationData?.[0];
    expect(data?.proxyEndpoint).toBe(registry.endpoint);
    expect(data?.expiresAt?.getTime()).toBeGreaterThan(before);
    const token = data?.authorizationToken ?? '';
    expect(Buffer.from(token, 'base64').toString()).toBe(`AWS:${registry.password}`);
    const push = await fetch(registry.url('/v2/acme/app/blobs/uploads/'), {
      method: 'POST',
      headers: { authorization: `Basic ${token}` },
    });
    expect(push.status).toBe(202);
  });

  it('describes the images of a repository with digest, tags, size, push time and media type', async () => {
    const image = await pushImage(registry, 'acme/hello-service', 'v1', makeImage(2));
    await putManifest(registry, 'acme/hello-service', 'main', image.manifest, MediaType.ociManifest, 201);

    const { imageDetails } = await ecr.send(
      new DescribeImagesCommand({ repositoryName: 'acme/hello-service' }),
    );

    expect(imageDetails).toHaveLength(1);
    const detail = imageDetails?.[0];
    expect(detail?.imageDigest).toBe(image.digest);
    expect(detail?.imageTags).toEqual(['main', 'v1']);
    expect(detail?.repositoryName).toBe('acme/hello-service');
    expect(detail?.imageSizeInBytes).toBe(image.layers.reduce((sum, layer) => sum + layer.length, 0));
    expect(detail?.imagePushedAt).toBeInstanceOf(Date);
    expect(detail?.imageManifestMediaType).toBe(MediaType.ociManifest);
    expect(detail?.artifactMediaType).toBe(MediaType.ociConfig);
  });

  it('describes images by tag and by digest', async () => {
    const one = await pushImage(registry, 'acme/app', 'one');
    const two = await pushImage(registry, 'acme/app', 'two');

    const { imageDetails } = await ecr.send(
      new DescribeImagesCommand({
        repositoryName: 'acme/app',
        imageIds: [{ imageTag: 'two' }, { imageDigest: one.digest }],
      }),
    );

    expect(imageDetails?.map((d) => d.imageDigest)).toEqual([two.digest, one.digest]);
  });

  it('throws RepositoryNotFoundException for a repository that does not exist', async () => {
    const call = ecr.send(new DescribeImagesCommand({ repositoryName: 'acme/nothing' }));

    await expect(call).rejects.toBeInstanceOf(RepositoryNotFoundException);
    await expect(call).rejects.toThrow("The repository with name 'acme/nothing' does not exist");
  });

  it('throws ImageNotFoundException for a tag the repository does not have', async () => {
    await pushImage(registry, 'acme/app', 'v1');

    const call = ecr.send(
      new DescribeImagesCommand({ repositoryName: 'acme/app', imageIds: [{ imageTag: 'v9' }] }),
    );

    await expect(call).rejects.toBeInstanceOf(ImageNotFoundException);
  });

  it('returns manifests with BatchGetImage and lists the images it did not find as failures', async () => {
    const image = await pushImage(registry, 'acme/app', 'v1');

    const result = await ecr.send(
      new BatchGetImageCommand({
        repositoryName: 'acme/app',
        imageIds: [{ imageTag: 'v1' }, { imageTag: 'nope' }],
      }),
    );

    expect(result.images).toHaveLength(1);
    expect(result.images?.[0]?.imageManifest).toBe(image.manifest.toString());
    expect(result.images?.[0]?.imageId).toEqual({ imageDigest: image.digest, imageTag: 'v1' });
    expect(result.images?.[0]?.imageManifestMediaType).toBe(MediaType.ociManifest);
    expect(result.failures).toEqual([
      {
        imageId: { imageTag: 'nope' },
        failureCode: 'ImageNotFound',
        failureReason: 'Requested image not found',
      },
    ]);
  });
});

/** Runs a python script with boto3 against the registry; resolves to its JSON output. */
function boto3(script: string, endpoint: string): Promise<unknown> {
  const program = `
import boto3, json, sys
ecr = boto3.client('ecr', endpoint_url=sys.argv[1], region_name='us-east-1',
                   aws_access_key_id='any', aws_secret_access_key='any')
def out(value): print(json.dumps(value, default=str))
${script}
`;
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', program, endpoint], (error, stdout, stderr) => {
      if (error) reject(new Error(`python3 failed: ${stderr || error.message}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

const boto3Available = await new Promise<boolean>((resolve) =>
  execFile('python3', ['-c', 'import boto3'], (error) => resolve(!error)),
);
if (!boto3Available) console.warn('skipping the boto3 tests: python3 with boto3 is not installed');

describe('the ECR JSON API of the local registry, with python boto3', () => {
  it.skipIf(!boto3Available)('gets an authorization token', async () => {
    const result = (await boto3(
      `d = ecr.get_authorization_token()['authorizationData'][0]
out({'token': d['authorizationToken'], 'endpoint': d['proxyEndpoint'], 'expires': d['expiresAt'].timestamp()})`,
      registry.endpoint,
    )) as { token: string; endpoint: string; expires: number };

    expect(Buffer.from(result.token, 'base64').toString()).toBe(`AWS:${registry.password}`);
    expect(result.endpoint).toBe(registry.endpoint);
    expect(result.expires * 1000).toBeGreaterThan(Date.now());
  });

  it.skipIf(!boto3Available)('describes images and gets a manifest', async () => {
    const image = await pushImage(registry, 'acme/hello-service', 'abc123');

    const result = (await boto3(
      `d = ecr.describe_images(repositoryName='acme/hello-service')['imageDetails'][0]
b = ecr.batch_get_image(repositoryName='acme/hello-service', imageIds=[{'imageTag': 'abc123'}])
out({'digest': d['imageDigest'], 'tags': d['imageTags'], 'pushed': d['imagePushedAt'].timestamp(),
     'manifest': b['images'][0]['imageManifest'], 'failures': b['failures']})`,
      registry.endpoint,
    )) as { digest: string; tags: string[]; pushed: number; manifest: string; failures: unknown[] };

    expect(result.digest).toBe(image.digest);
    expect(result.tags).toEqual(['abc123']);
    expect(result.pushed * 1000).toBeLessThanOrEqual(Date.now());
    expect(result.manifest).toBe(image.manifest.toString());
    expect(result.failures).toEqual([]);
  });

  it.skipIf(!boto3Available)('raises RepositoryNotFoundException and ImageNotFoundException', async () => {
    await pushImage(registry, 'acme/app', 'v1');

    const result = await boto3(
      `errors = []
for call in (lambda: ecr.describe_images(repositoryName='acme/none'),
             lambda: ecr.describe_images(repositoryName='acme/app', imageIds=[{'imageTag': 'v2'}])):
    try:
        call()
    except ecr.exceptions.ClientError as e:
        errors.append(e.response['Error']['Code'])
out(errors)`,
      registry.endpoint,
    );

    expect(result).toEqual(['RepositoryNotFoundException', 'ImageNotFoundException']);
  });
});
