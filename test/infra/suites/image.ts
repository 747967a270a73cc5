import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ImageRepositories, pushActions } from '#infra/image-repositories.ts';
import { runnerContainerName } from '#infra/stepline-pipeline.ts';
import { actions, logicalId, resources, statement, statementsOf, synth } from '../fixture.ts';

/** The environment of the one container of a task definition, as a name → value map. */
function containerEnvironment(template: Template, taskDefinitionId: string): Record<string, unknown> {
  const td = template.toJSON().Resources[taskDefinitionId] as {
    Properties: { ContainerDefinitions: { Environment: { Name: string; Value: unknown }[] }[] };
  };
  return Object.fromEntries(td.Properties.ContainerDefinitions[0]!.Environment.map((e) => [e.Name, e.Value]));
}

describe('ECR repositories (issue 7)', () => {
  it('creates one repository per configured image repository, named as configured or derived', () => {
    const { template } = synth();
    const names = Object.values(template.findResources('AWS::ECR::Repository')).map(
      (r) => (r as { Properties: { RepositoryName: string } }).Properties.RepositoryName,
    );
    expect(names.sort()).toEqual(['acme/api', 'web/frontend']);
  });

  it('scans on push, keeps tags immutable except branch-*, encrypts with AES-256 and expires untagged images', () => {
    synth().template.hasResourceProperties('AWS::ECR::Repository', {
      RepositoryName: 'acme/api',
      ImageScanningConfiguration: { ScanOnPush: true },
      ImageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      ImageTagMutabilityExclusionFilters: [
        {
          ImageTagMutabilityExclusionFilterType: 'WILDCARD',
          ImageTagMutabilityExclusionFilterValue: 'branch-*',
        },
      ],
      EncryptionConfiguration: { EncryptionType: 'AES256' },
    });
    const [repository] = Object.values(
      synth().template.findResources('AWS::ECR::Repository', { Properties: { RepositoryName: 'acme/api' } }),
    ) as { Properties: { LifecyclePolicy: { LifecyclePolicyText: string } } }[];
    const policy = JSON.parse(repository!.Properties.LifecyclePolicy.LifecyclePolicyText);
    expect(policy.rules).toEqual([
      expect.objectContaining({
        selection: {
          tagStatus: 'untagged',
          countType: 'sinceImagePushed',
          countNumber: 7,
          countUnit: 'days',
        },
        action: { type: 'expire' },
      }),
    ]);
  });

  it('keeps the repositories and their images when the stack is deleted', () => {
    synth().template.hasResource('AWS::ECR::Repository', {
      Properties: Match.objectLike({ RepositoryName: 'web/frontend' }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('imports the repositories by name instead when asked, and pushes to them all the same', () => {
    const { variant, variantTemplate } = synth();
    variantTemplate.resourceCountIs('AWS::ECR::Repository', 0);
    const roles = variant.pipeline.repositoryTaskRoles;
    const api = statement(roles.get('github:acme/api')!.publisher, 'PushImages', variant);
    const web = statement(roles.get('gitlab:group/web')!.publisher, 'PushImages', variant);
    expect(JSON.stringify(resources(api))).toContain(':repository/acme/api');
    expect(JSON.stringify(resources(web))).toContain(':repository/web/frontend');
  });
});

describe('publisher task definition (issue 7)', () => {
  it('is its own arm64 Fargate task definition with more CPU, memory and disk than the runner', () => {
    const { template, stack } = synth();
    const td = template.toJSON().Resources[logicalId(stack.pipeline.publisherTaskDefinition)].Properties;
    expect(td).toMatchObject({
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Cpu: '2048',
      Memory: '4096',
      EphemeralStorage: { SizeInGiB: 50 },
    });
    expect(logicalId(stack.pipeline.publisherTaskDefinition)).not.toBe(
      logicalId(stack.pipeline.runnerTaskDefinition),
    );
  });

  it('runs the runner image and entrypoint in a container named as the ASL overrides it', () => {
    const { template, stack } = synth();
    const resourcesById = template.toJSON().Resources;
    const container = (id: string) => resourcesById[id].Properties.ContainerDefinitions[0];
    const publisher = container(logicalId(stack.pipeline.publisherTaskDefinition));
    const runner = container(logicalId(stack.pipeline.runnerTaskDefinition));
    expect(publisher.Name).toBe(runnerContainerName);
    expect(publisher.Image).toEqual(runner.Image);
    expect(publisher.EntryPoint).toEqual(runner.EntryPoint);
    expect(publisher.LogConfiguration.Options['awslogs-stream-prefix']).toBe('publisher');
  });

  it('tells the runner where to push (this account’s ECR, with ECR auth), where bases come from, and the platform', () => {
    const { template, stack } = synth();
    const env = containerEnvironment(template, logicalId(stack.pipeline.publisherTaskDefinition));
    expect(env).toMatchObject({
      ARTIFACT_BUCKET: stack.resolve(stack.pipeline.artifactBucket.bucketName),
      STEPLINE_HEARTBEAT_SECONDS: '20',
      STEPLINE_REGISTRY: {
        'Fn::Join': [
          '',
          [{ Ref: 'AWS::AccountId' }, '.dkr.ecr.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }],
        ],
      },
      STEPLINE_REGISTRY_AUTH: 'ecr',
      STEPLINE_BASE_REGISTRY: 'public.ecr.aws/docker/library',
      STEPLINE_PLATFORM: 'linux/arm64',
    });
    const runnerEnv = containerEnvironment(template, logicalId(stack.pipeline.runnerTaskDefinition));
    expect(Object.keys(runnerEnv).filter((name) => name.includes('REGISTRY'))).toEqual([]);
  });

  it('resolves bases through an ECR pull-through cache rule for ECR Public when a prefix is configured', () => {
    const { variant, variantTemplate } = synth();
    variantTemplate.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      EcrRepositoryPrefix: 'ecr-public',
      UpstreamRegistry: 'ecr-public',
      UpstreamRegistryUrl: 'public.ecr.aws',
    });
    const env = containerEnvironment(
      variantTemplate,
      logicalId(variant.pipeline.publisherTaskDefinition, variant),
    );
    expect(JSON.stringify(env.STEPLINE_BASE_REGISTRY)).toContain('/ecr-public/docker/library');
    const pull = statement(
      variant.pipeline.repositoryTaskRoles.get('github:acme/api')!.publisher,
      'PullBaseImagesThroughCache',
      variant,
    );
    expect(actions(pull).sort()).toEqual([
      'ecr:BatchCheckLayerAvailability',
      'ecr:BatchGetImage',
      'ecr:BatchImportUpstreamImage',
      'ecr:CreateRepository',
      'ecr:GetDownloadUrlForLayer',
    ]);
    expect(JSON.stringify(resources(pull))).toContain(':repository/ecr-public/*');
  });

  it('creates no pull-through cache rule by default', () => {
    synth().template.resourceCountIs('AWS::ECR::PullThroughCacheRule', 0);
  });
});

describe('publisher permissions (issue 7)', () => {
  const publisherRoles = () =>
    [...synth().stack.pipeline.repositoryTaskRoles.values()].map((r) => r.publisher);

  it("lets each repository's publisher push to exactly that repository's image repository", () => {
    const { stack } = synth();
    const { repositoryTaskRoles, imageRepositories } = stack.pipeline;
    const expected = { 'github:acme/api': 'acme/api', 'gitlab:group/web': 'web/frontend' } as const;
    for (const [key, name] of Object.entries(expected)) {
      const push = statement(repositoryTaskRoles.get(key)!.publisher, 'PushImages');
      expect(actions(push)).toEqual([...pushActions]);
      expect(resources(push)).toEqual([
        stack.resolve(imageRepositories.repositories.get(name)!.repositoryArn),
      ]);
    }
    expect(
      actions(statement(repositoryTaskRoles.get('github:acme/api')!.publisher, 'PushImages')).sort(),
    ).toEqual([
      'ecr:BatchCheckLayerAvailability',
      'ecr:BatchGetImage',
      'ecr:CompleteLayerUpload',
      'ecr:DescribeImages',
      'ecr:GetDownloadUrlForLayer',
      'ecr:InitiateLayerUpload',
      'ecr:PutImage',
      'ecr:UploadLayerPart',
    ]);
  });

  it('gets an ECR token on "*" in a statement of its own, the only ECR action not scoped to a repository', () => {
    for (const role of publisherRoles()) {
      const token = statement(role, 'GetRegistryToken');
      expect(actions(token)).toEqual(['ecr:GetAuthorizationToken']);
      expect(resources(token)).toEqual(['*']);
      const unscopedEcr = statementsOf(role)
        .filter((s) => resources(s).includes('*'))
        .flatMap(actions)
        .filter((a) => a.startsWith('ecr:'));
      expect(unscopedEcr).toEqual(['ecr:GetAuthorizationToken']);
    }
  });

  it("reads and writes only its repository's runs/ (no caches) and reports its task result", () => {
    const { stack } = synth();
    const role = stack.pipeline.repositoryTaskRoles.get('github:acme/api')!.publisher;
    const rw = statement(role, 'ReadWriteRuns');
    expect(resources(rw)).toEqual([
      stack.resolve(stack.pipeline.artifactBucket.arnForObjects('runs/github/acme%2Fapi/*')),
    ]);
    expect(statement(role, 'ListRuns').Condition).toEqual({
      StringLikeIfExists: { 's3:prefix': ['runs/github/acme%2Fapi/*'] },
    });
    expect(
      statementsOf(role)
        .map((s) => s.Sid)
        .sort(),
    ).toEqual(['GetRegistryToken', 'ListRuns', 'PushImages', 'ReadWriteRuns', 'ReportTaskResults']);
  });

  it('gives Build and Test no ECR rights at all: only the publisher may push', () => {
    for (const { runner } of synth().stack.pipeline.repositoryTaskRoles.values()) {
      expect(
        statementsOf(runner)
          .flatMap(actions)
          .filter((a) => a.startsWith('ecr:')),
      ).toEqual([]);
    }
  });
});

describe('ImageRepositories construct', () => {
  it('refuses a pull-through cache prefix ECR would refuse', () => {
    const stack = new Stack(new App(), 'Bad');
    expect(
      () =>
        new ImageRepositories(stack, 'Repos', {
          names: ['acme/api'],
          removalPolicy: RemovalPolicy.RETAIN,
          baseImages: { pullThroughCachePrefix: 'Docker Hub' },
        }),
    ).toThrow(/pull-through cache prefix "Docker Hub": expected 2 to 30 lowercase/);
  });

  it('refuses a base registry the runner would refuse, at synth rather than in a run', () => {
    const stack = new Stack(new App(), 'BadBase');
    expect(
      () =>
        new ImageRepositories(stack, 'Repos', {
          names: ['acme/api'],
          removalPolicy: RemovalPolicy.RETAIN,
          baseImages: { registry: 'https://mirror.example.com/library' },
        }),
    ).toThrow(/base registry "https:\/\/mirror\.example\.com\/library": expected host\[:port\]\[\/path\]/);
  });

  it('uses an existing pull-through cache rule without creating one, and stays cdk-nag clean', () => {
    const app = new App();
    const stack = new Stack(app, 'Existing');
    const repos = new ImageRepositories(stack, 'Repos', {
      names: ['acme/api'],
      removalPolicy: RemovalPolicy.DESTROY,
      baseImages: { pullThroughCachePrefix: 'mirror', createRule: false },
    });
    repos.grantPush(
      new Role(stack, 'Publisher', { assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com') }),
    );
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::ECR::PullThroughCacheRule', 0);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Sid: 'PullBaseImagesThroughCache' })]),
      },
    });
    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });
});
