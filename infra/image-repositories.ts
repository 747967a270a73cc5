import { ArnFormat, Aws, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  CfnPullThroughCacheRule,
  type CfnRepository,
  ImageTagMutabilityExclusionFilter,
  type IRepository,
  Repository,
  RepositoryEncryption,
  TagMutability,
  TagStatus,
} from 'aws-cdk-lib/aws-ecr';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { resourceFinding, suppress } from './nag.ts';

/** Where the publisher resolves short base image names such as `node:22-slim`. */
export type BaseImageSource =
  /** A registry prefix taken as given, e.g. `public.ecr.aws/docker/library` or a mirror of your own. */
  | { readonly registry: string }
  /**
   * An ECR pull-through cache rule for ECR Public under this repository prefix (e.g. `ecr-public`):
   * bases are pulled from `<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/docker/library/…`, so they
   * come from inside the account after the first pull. The rule is registry-wide (one per prefix per
   * account and region): set `createRule: false` when another stack already made it.
   */
  | { readonly pullThroughCachePrefix: string; readonly createRule?: boolean };

/** ECR Public's Docker Official Images, the default base registry. */
export const defaultBaseRegistry = 'public.ecr.aws/docker/library';

/** Tags that move (the branch tag PublishImage gives the newest commit of a branch); every other tag is immutable. */
export const mutableTagPattern = 'branch-*';

/** Props of {@link ImageRepositories}. */
export interface ImageRepositoriesProps {
  /** ECR repository names, one per configured image repository. */
  readonly names: readonly string[];
  /** Import existing repositories by name instead of creating them. @default false */
  readonly importExisting?: boolean;
  /** What happens to created repositories (and their images) when the stack is deleted. */
  readonly removalPolicy: RemovalPolicy;
  /** Days after which an untagged image expires. @default 7 */
  readonly untaggedImageExpiryDays?: number;
  /** @default { registry: defaultBaseRegistry } */
  readonly baseImages?: BaseImageSource;
}

/** Push actions on an ECR repository (the OCI distribution API as ECR authorizes it), plus reading back. */
export const pushActions = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:PutImage',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
  'ecr:DescribeImages',
] as const;

/** Pull actions on an ECR repository. */
export const pullActions = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
] as const;

/**
 * The ECR repositories PublishImage pushes to (one per configured image repository: scan on push,
 * immutable tags except `branch-*`, untagged images expire, AES-256 encryption), and optionally an
 * ECR pull-through cache rule for base images.
 */
export class ImageRepositories extends Construct {
  /** Repositories by name, created or imported. */
  readonly repositories: ReadonlyMap<string, IRepository>;
  /** `<account>.dkr.ecr.<region>.<suffix>`: the registry host (`STEPLINE_REGISTRY`). */
  readonly registry: string;
  /** Where short base names resolve (`STEPLINE_BASE_REGISTRY`). */
  readonly baseRegistry: string;
  /** The ARN pattern of the pull-through cache's repositories, when one is used. */
  readonly pullThroughCacheRepositoryArn?: string;
  /** The pull-through cache rule, when this construct created one. */
  readonly pullThroughCacheRule?: CfnPullThroughCacheRule;

  constructor(scope: Construct, id: string, props: ImageRepositoriesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.registry = `${Aws.ACCOUNT_ID}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}`;
    const repositories = new Map<string, IRepository>();
    for (const name of props.names) {
      // Construct ids are part of the contract: derived from the name, '/' is not allowed in an id.
      const cid = `Repository:${name.replaceAll('/', '|')}`;
      if (props.importExisting) {
        repositories.set(name, Repository.fromRepositoryName(this, cid, name));
        continue;
      }
      const repository = new Repository(this, cid, {
        repositoryName: name,
        imageScanOnPush: true,
        imageTagMutability: TagMutability.IMMUTABLE_WITH_EXCLUSION,
        imageTagMutabilityExclusionFilters: [ImageTagMutabilityExclusionFilter.wildcard(mutableTagPattern)],
        // AES-256 (S3-managed keys): a customer KMS key would cost $1/month per key and each pull a KMS call.
        encryption: RepositoryEncryption.AES_256,
        removalPolicy: props.removalPolicy,
        lifecycleRules: [
          {
            description: 'Untagged images (a moved branch tag left them behind) expire',
            tagStatus: TagStatus.UNTAGGED,
            maxImageAge: Duration.days(props.untaggedImageExpiryDays ?? 7),
          },
        ],
      });
      // CDK leaves AES-256 (ECR's default) implicit; state it so the template says how images are encrypted.
      (repository.node.defaultChild as CfnRepository).encryptionConfiguration = { encryptionType: 'AES256' };
      repositories.set(name, repository as IRepository);
    }
    this.repositories = repositories;

    const base = props.baseImages ?? { registry: defaultBaseRegistry };
    if ('registry' in base) {
      // The runner checks STEPLINE_BASE_REGISTRY the same way at start; a typo should fail the synth, not a run.
      if (!/^[A-Za-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/.test(base.registry)) {
        throw new Error(
          `base registry ${JSON.stringify(base.registry)}: expected host[:port][/path], e.g. public.ecr.aws/docker/library`,
        );
      }
      this.baseRegistry = base.registry;
    } else {
      const prefix = base.pullThroughCachePrefix;
      if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(prefix) || prefix.length < 2 || prefix.length > 30) {
        throw new Error(
          `pull-through cache prefix ${JSON.stringify(prefix)}: expected 2 to 30 lowercase letters, digits, . _ or - (an ECR repository prefix)`,
        );
      }
      if (base.createRule ?? true) {
        this.pullThroughCacheRule = new CfnPullThroughCacheRule(this, 'BaseImageCacheRule', {
          ecrRepositoryPrefix: prefix,
          upstreamRegistry: 'ecr-public',
          upstreamRegistryUrl: 'public.ecr.aws',
        });
      }
      this.baseRegistry = `${this.registry}/${prefix}/docker/library`;
      this.pullThroughCacheRepositoryArn = stack.formatArn({
        service: 'ecr',
        resource: 'repository',
        resourceName: `${prefix}/*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    }
  }

  /**
   * Lets `role` push to exactly these repositories (or only those named in `names`), get an ECR
   * token (which has no resource-level permissions), and pull bases through the pull-through cache
   * when one is used.
   */
  grantPush(role: IRole, names?: readonly string[]): void {
    const chosen = names === undefined ? [...this.repositories.keys()] : [...new Set(names)];
    const arns = chosen.map((name) => {
      const repository = this.repositories.get(name);
      if (repository === undefined)
        throw new Error(`no ECR repository ${JSON.stringify(name)} in this stack`);
      return repository.repositoryArn;
    });
    if (arns.length > 0) {
      role.addToPrincipalPolicy(
        new PolicyStatement({ sid: 'PushImages', actions: [...pushActions], resources: arns }),
      );
    }
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'GetRegistryToken',
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );
    const acknowledged = [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'ecr:GetAuthorizationToken does not support resource-level permissions (AWS requires Resource "*"); the token only authenticates, each push is authorized per repository.',
        appliesTo: ['Resource::*'],
      },
    ];
    if (this.pullThroughCacheRepositoryArn !== undefined) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'PullBaseImagesThroughCache',
          // The first pull of a base creates its cache repository and imports the image from upstream.
          actions: [...pullActions, 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'],
          resources: [this.pullThroughCacheRepositoryArn],
        }),
      );
      acknowledged.push({
        id: 'AwsSolutions-IAM5',
        reason:
          'The pull-through cache makes one repository per upstream image under its prefix; the publisher pulls (and on a first pull creates) only those.',
        appliesTo: [resourceFinding(this, this.pullThroughCacheRepositoryArn)],
      });
    }
    suppress(role, acknowledged);
  }
}
