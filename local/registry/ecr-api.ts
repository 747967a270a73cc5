import { z } from 'zod';
import { authorizationToken } from './auth.ts';
import { EcrApiError } from './errors.ts';
import { digestPattern, namePattern, parseManifest, tagPattern } from './manifest.ts';
import type { ImageRecord, RegistryStorage } from './storage.ts';

/** The account id the local registry answers with (the one the local ARNs use). */
export const localRegistryId = '000000000000';
export const ecrTargetPrefix = 'AmazonEC2ContainerRegistry_V20150921.';
/** How long a local authorization token is said to last (ECR's tokens last 12 hours). */
const tokenLifetimeSeconds = 12 * 60 * 60;

const RepositoryName = z.string().min(2).max(256).regex(namePattern);
const ImageIdentifier = z.object({
  imageDigest: z.string().optional(),
  imageTag: z.string().optional(),
});
type ImageIdentifier = z.infer<typeof ImageIdentifier>;

const GetAuthorizationToken = z.object({ registryIds: z.array(z.string()).optional() });
const DescribeImages = z.object({
  registryId: z.string().optional(),
  repositoryName: RepositoryName,
  imageIds: z.array(ImageIdentifier).min(1).max(100).optional(),
  nextToken: z.string().optional(),
  maxResults: z.number().int().min(1).max(1000).optional(),
  filter: z.object({ tagStatus: z.enum(['TAGGED', 'UNTAGGED', 'ANY']).optional() }).optional(),
});
const BatchGetImage = z.object({
  registryId: z.string().optional(),
  repositoryName: RepositoryName,
  imageIds: z.array(ImageIdentifier).min(1).max(100),
  acceptedMediaTypes: z.array(z.string()).optional(),
});

export interface EcrApiDeps {
  storage: RegistryStorage;
  password: string;
  /** `http://127.0.0.1:<port>`, ECR's `proxyEndpoint`. */
  endpoint: string;
  /** Called before a repository is read (the base images wait for their build here). */
  beforeRead: (repositoryName: string) => Promise<void>;
  now?: () => number;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.join('.') || '(body)';
  throw new EcrApiError(
    'InvalidParameterException',
    `Invalid parameter at '${field}' failed to satisfy constraint: '${issue?.message ?? 'invalid'}'`,
  );
}

const epochSeconds = (date: Date) => date.getTime() / 1000;

function repositoryNotFound(name: string): EcrApiError {
  return new EcrApiError(
    'RepositoryNotFoundException',
    `The repository with name '${name}' does not exist in the registry with id '${localRegistryId}'`,
  );
}

function describeId(id: ImageIdentifier): string {
  return [id.imageTag && `imageTag=${id.imageTag}`, id.imageDigest && `imageDigest=${id.imageDigest}`]
    .filter(Boolean)
    .join(', ');
}

type Lookup = { image: ImageRecord } | { failureCode: string; failureReason: string };

function lookup(images: ImageRecord[], id: ImageIdentifier): Lookup {
  if (!id.imageDigest && !id.imageTag)
    return { failureCode: 'MissingDigestAndTag', failureReason: 'Requested image has no digest or tag' };
  if (id.imageDigest && !digestPattern.test(id.imageDigest))
    return { failureCode: 'InvalidImageDigest', failureReason: `Invalid image digest ${id.imageDigest}` };
  if (id.imageTag && !tagPattern.test(id.imageTag))
    return { failureCode: 'InvalidImageTag', failureReason: `Invalid image tag ${id.imageTag}` };
  const byDigest = id.imageDigest ? images.find((image) => image.digest === id.imageDigest) : undefined;
  const byTag = id.imageTag ? images.find((image) => image.tags.includes(id.imageTag ?? '')) : undefined;
  if (id.imageDigest && id.imageTag && byDigest && byTag && byDigest !== byTag)
    return {
      failureCode: 'ImageTagDoesNotMatchDigest',
      failureReason: `Image tag ${id.imageTag} does not match image digest ${id.imageDigest}`,
    };
  const image = id.imageDigest ? byDigest : byTag;
  if (!image || (id.imageTag && !byTag))
    return { failureCode: 'ImageNotFound', failureReason: 'Requested image not found' };
  return { image };
}

/** ECR's `imageSizeInBytes`: the layers' (compressed) sizes, summed over an index's manifests. */
async function imageSize(
  storage: RegistryStorage,
  name: string,
  image: ImageRecord,
  depth = 0,
): Promise<number> {
  const parsed = parseManifest(await storage.readManifest(name, image), image.mediaType);
  if (parsed.kind === 'manifest') return parsed.layers.reduce((sum, layer) => sum + layer.size, 0);
  if (depth > 2) return 0;
  let total = 0;
  for (const child of parsed.manifests) {
    const found = await storage.findManifest(name, child.digest);
    if (found) total += await imageSize(storage, name, found, depth + 1);
  }
  return total;
}

async function artifactMediaType(storage: RegistryStorage, name: string, image: ImageRecord) {
  const parsed = parseManifest(await storage.readManifest(name, image), image.mediaType);
  return parsed.kind === 'manifest' ? parsed.config.mediaType : undefined;
}

async function imagesOf(deps: EcrApiDeps, name: string): Promise<ImageRecord[]> {
  await deps.beforeRead(name);
  const images = await deps.storage.listImages(name);
  if (!images) throw repositoryNotFound(name);
  return images;
}

/**
 * Serves one operation of the ECR JSON protocol (AWS JSON 1.1) for the calls Stepline's code
 * makes: GetAuthorizationToken, DescribeImages, BatchGetImage.
 */
export async function dispatchEcr(deps: EcrApiDeps, operation: string, body: unknown): Promise<unknown> {
  switch (operation) {
    case 'GetAuthorizationToken': {
      parse(GetAuthorizationToken, body);
      const now = deps.now?.() ?? Date.now();
      return {
        authorizationData: [
          {
            authorizationToken: authorizationToken(deps.password),
            expiresAt: Math.floor(now / 1000) + tokenLifetimeSeconds,
            proxyEndpoint: deps.endpoint,
          },
        ],
      };
    }
    case 'DescribeImages': {
      const request = parse(DescribeImages, body);
      if (request.imageIds && (request.maxResults !== undefined || request.nextToken !== undefined))
        throw new EcrApiError(
          'InvalidParameterException',
          'maxResults and nextToken cannot be used together with imageIds',
        );
      const images = await imagesOf(deps, request.repositoryName);
      let selected: ImageRecord[];
      let nextToken: string | undefined;
      if (request.imageIds) {
        selected = [];
        for (const id of request.imageIds) {
          const found = lookup(images, id);
          if (!('image' in found))
            throw new EcrApiError(
              'ImageNotFoundException',
              `The image with imageId {${describeId(id)}} does not exist within the repository with name '${request.repositoryName}' in the registry with id '${localRegistryId}'`,
            );
          if (!selected.includes(found.image)) selected.push(found.image);
        }
      } else {
        const status = request.filter?.tagStatus ?? 'ANY';
        const filtered = images.filter(
          (image) => status === 'ANY' || (status === 'TAGGED') === image.tags.length > 0,
        );
        const start = request.nextToken ? Number(Buffer.from(request.nextToken, 'base64url').toString()) : 0;
        if (!Number.isInteger(start) || start < 0)
          throw new EcrApiError('InvalidParameterException', `Invalid nextToken "${request.nextToken}"`);
        const size = request.maxResults ?? 100;
        selected = filtered.slice(start, start + size);
        if (start + size < filtered.length)
          nextToken = Buffer.from(String(start + size)).toString('base64url');
      }
      const imageDetails = [];
      for (const image of selected) {
        const artifactType = await artifactMediaType(deps.storage, request.repositoryName, image);
        imageDetails.push({
          registryId: localRegistryId,
          repositoryName: request.repositoryName,
          imageDigest: image.digest,
          ...(image.tags.length > 0 ? { imageTags: [...image.tags].sort() } : {}),
          imageSizeInBytes: await imageSize(deps.storage, request.repositoryName, image),
          imagePushedAt: epochSeconds(image.pushedAt),
          imageManifestMediaType: image.mediaType,
          ...(artifactType ? { artifactMediaType: artifactType } : {}),
        });
      }
      return nextToken ? { imageDetails, nextToken } : { imageDetails };
    }
    case 'BatchGetImage': {
      const request = parse(BatchGetImage, body);
      const images = await imagesOf(deps, request.repositoryName);
      const found = [];
      const failures = [];
      for (const id of request.imageIds) {
        const result = lookup(images, id);
        if (!('image' in result)) {
          failures.push({ imageId: id, ...result });
          continue;
        }
        const manifest = await deps.storage.readManifest(request.repositoryName, result.image);
        found.push({
          registryId: localRegistryId,
          repositoryName: request.repositoryName,
          imageId: { imageDigest: result.image.digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) },
          imageManifest: manifest.toString('utf8'),
          imageManifestMediaType: result.image.mediaType,
        });
      }
      return { images: found, failures };
    }
    default:
      throw new EcrApiError(
        'UnknownOperationException',
        `operation ${operation} is not supported by the local registry (it serves GetAuthorizationToken, DescribeImages, BatchGetImage)`,
      );
  }
}
