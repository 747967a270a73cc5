import {
  ArnFormat,
  Aws,
  type CfnResource,
  Duration,
  Fn,
  IgnoreMode,
  RemovalPolicy,
  SecretValue,
  Stack,
} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  type ISecurityGroup,
  type IVpc,
  SecurityGroup,
  type SubnetSelection,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateTaskDefinition,
  LinuxParameters,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { computeArchitecture, computePlatform, fargateCompute, lambdaCompute } from '#shared/compute.ts';
import { type DeploymentConfig, imageRepositoryFor } from '#shared/deployment-config.ts';
import { type RepositoryRef, repositoryCachesPrefix, repositoryRunsPrefix } from '#shared/object-keys.ts';
import type { Provider } from '#shared/push-event.ts';
import { type TaskRoleKind, taskRoleArnFormat, taskRoleName, taskRolePath } from '#shared/task-roles.ts';
import { readDefinition, type Substitutions } from '#state-machines/pipeline.ts';
import {
  configForEnvironment,
  type DeploymentConfigInput,
  type DeployTarget,
  parseAwsDeploymentConfig,
  placeSecrets,
  type SecretPlacement,
} from './config.ts';
import { type BaseImageSource, ImageRepositories } from './image-repositories.ts';
import { ExecutionLanes } from './lanes.ts';
import { resourceFinding, suppress } from './nag.ts';
import { addNotifications } from './notifications.ts';
import { repoRoot, runnerContextExcludes } from './paths.ts';
import { computeProps, PipelineFunction } from './pipeline-function.ts';
import { TaskStoppedHandler } from './task-stopped.ts';

/** Fargate tasks (the runner's, the publisher's, the demo's services) run on the catalog's architecture. */
export const fargatePlatform = {
  cpuArchitecture: computeArchitecture === 'arm64' ? CpuArchitecture.ARM64 : CpuArchitecture.X86_64,
  operatingSystemFamily: OperatingSystemFamily.LINUX,
};

/** Days an approval record (`approvals/<id>.json`) is kept: past the longest approval timeout (7 days). */
export const approvalRetentionDays = 45;

/** Name of the runner's container in its task definition (`RunnerContainerName`). */
export const runnerContainerName = 'runner';

/**
 * `<stack name>-runner` / `<stack name>-publisher`: the task-definition families, one per stack (stack
 * names are unique per account and region, and so are families). The state machine names the family
 * and RunTask runs its latest ACTIVE revision.
 */
export function taskDefinitionFamily(stackName: string, kind: 'runner' | 'publisher'): string {
  return `${stackName}-${kind}`;
}

/** Props of {@link StepLinePipeline}. */
export interface StepLinePipelineProps {
  /**
   * The deployment configuration (the same document the local runtime reads). It is validated for
   * AWS: secrets must be `{ secretName }` and repository names must not be globs.
   */
  readonly config: DeploymentConfigInput;
  /**
   * Secrets to import by name instead of creating them. `true`: every configured secret, under its
   * name as written in the config, and the approval signing key. A list: only the secrets it names,
   * each as written in the config (a secret you manage, perhaps shared by several stacks) or as this
   * stack names what it creates (`<stack name>/<secretName>`, `<stack name>/approval-signing-key`,
   * e.g. kept from an earlier deployment); each is imported under exactly that name. Secrets the
   * stack creates are named `<stack name>/<secretName>`, so several stacks (the way to split
   * repositories) can live in one account with the same config.
   * @default false
   */
  readonly importExistingSecrets?: boolean | readonly string[];
  /**
   * VPC the runner tasks run in.
   * @default - a new VPC with public subnets only and no NAT gateway; tasks get public IPs
   */
  readonly vpc?: IVpc;
  /**
   * Subnets the runner tasks run in.
   * @default - the public subnets of the new VPC, or the private subnets with egress of `vpc`
   */
  readonly runnerSubnets?: SubnetSelection;
  /**
   * Security groups of the runner tasks.
   * @default - one new group with no ingress and all egress
   */
  readonly runnerSecurityGroups?: readonly ISecurityGroup[];
  /**
   * Whether runner tasks get a public IP (needed in public subnets without NAT).
   * @default - true with the new VPC, false when `vpc` is given
   */
  readonly runnerAssignPublicIp?: boolean;
  /** Fargate CPU units of a runner task. @default fargateCompute.runner.cpu (1024, functions/shared/compute.ts) */
  readonly runnerCpu?: number;
  /** Memory of a runner task in MiB. @default fargateCompute.runner.memoryMiB (2048) */
  readonly runnerMemoryMiB?: number;
  /** Ephemeral storage of a runner task in GiB (21–200). @default 30 */
  readonly runnerEphemeralStorageGiB?: number;
  /** Fargate CPU units of the PublishImage task (buildah and layer compression want more than a build step). @default 2048 */
  readonly publisherCpu?: number;
  /** Memory of the PublishImage task in MiB. @default 4096 */
  readonly publisherMemoryMiB?: number;
  /** Ephemeral storage of the PublishImage task in GiB (21–200); buildah's vfs driver copies each layer in full. @default 50 */
  readonly publisherEphemeralStorageGiB?: number;
  /** Where PublishImage resolves short base image names. @default { registry: 'public.ecr.aws/docker/library' } */
  readonly baseImages?: BaseImageSource;
  /**
   * Import the configured ECR repositories by name instead of creating them (they exist already, e.g.
   * kept from an earlier deployment).
   * @default false
   */
  readonly importExistingImageRepositories?: boolean;
  /** Days after which an untagged image in the ECR repositories expires. @default 7 */
  readonly untaggedImageExpiryDays?: number;
  /**
   * Also allow `ses:SendEmail` on the identities of the configured approvers and notification emails.
   * Needed only while the account is in the SES sandbox, where SES authorizes each recipient's
   * identity too; the sender stays fixed by the `ses:FromAddress` condition either way.
   * @default false
   */
  readonly sesSandboxRecipients?: boolean;
  /** Seconds between the runner's heartbeats; must stay well under the ASL's `HeartbeatSeconds` (120). @default 20 */
  readonly heartbeatSeconds?: number;
  /** Steady-state requests per second of the HTTP API's default stage. @default 20 */
  readonly throttleRateLimit?: number;
  /** Burst of the HTTP API's default stage. @default 40 */
  readonly throttleBurstLimit?: number;
  /** Retention of every log group. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Powertools log level of the Lambdas. @default 'INFO' */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * State machine log level. Execution data (push payloads, task tokens) is never logged.
   * @default LogLevel.ALL
   */
  readonly stateMachineLogLevel?: LogLevel.ALL | LogLevel.ERROR;
  /**
   * What happens to the buckets and created secrets when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The two task roles of one configured repository (see #shared/task-roles.ts). */
export interface RepositoryTaskRoles {
  readonly repository: RepositoryRef;
  /** Build and Test: this repository's runs/ and caches/ objects, SendTask*. */
  readonly runner: Role;
  /** PublishImage: this repository's runs/ objects, push to its own ECR repository, SendTask*. */
  readonly publisher: Role;
}

type FunctionKey =
  | 'webhook'
  | 'fetchSource'
  | 'reportStatus'
  | 'deploy'
  | 'checkDeployment'
  | 'requestApproval'
  | 'approvalApi';

/**
 * Everything Stepline needs in an AWS account: the webhook and approval HTTP API, the Lambdas, the
 * pipeline state machine (from `state-machines/pipeline.asl.json`), the Fargate runner, the artifact
 * bucket, the provider secrets and failure notifications. Permissions are written by hand and minimal.
 */
export class StepLinePipeline extends Construct {
  readonly api: HttpApi;
  readonly stateMachine: StateMachine;
  readonly artifactBucket: Bucket;
  readonly accessLogsBucket: Bucket;
  readonly functions: Readonly<Record<FunctionKey, PipelineFunction>>;
  readonly cluster: Cluster;
  readonly runnerTaskDefinition: FargateTaskDefinition;
  /** PublishImage's own task definition: the runner image with more CPU, memory and disk. */
  readonly publisherTaskDefinition: FargateTaskDefinition;
  /**
   * Per configured repository (`<provider>:<name>`), the roles its tasks run as: the state machine
   * picks them per push with RunTask's `Overrides.TaskRoleArn`. The task definitions' own task roles
   * have no permissions at all.
   */
  readonly repositoryTaskRoles: ReadonlyMap<string, RepositoryTaskRoles>;
  readonly imageRepositories: ImageRepositories;
  /** HMAC key of the approval links (generated; one per stack). */
  readonly approvalSigningKey: ISecret;
  readonly runnerSecurityGroups: readonly ISecurityGroup[];
  readonly vpc: IVpc;
  readonly topic: Topic;
  /** The alarms that notify {@link topic}: failed executions, HTTP API 5xx. */
  readonly alarms: readonly Alarm[];
  /** Fails a runner state at once when its task stops without reporting (out of memory, image pull). */
  readonly taskStopped: TaskStoppedHandler;
  /** Execution modes: the lane table, the lane Lambda and the rule that releases ended executions. */
  readonly lanes: ExecutionLanes;
  /** Secrets by their name in the config, created or imported. */
  readonly secrets: ReadonlyMap<string, ISecret>;
  /** The Secrets Manager name of each configured secret (config name → name on AWS), as the Lambdas get it. */
  readonly secretNames: ReadonlyMap<string, string>;
  /** Providers named in the config, in first-use order. */
  readonly providers: readonly Provider[];
  /** Substitutions passed to the state machine definition. */
  readonly substitutions: Substitutions;

  constructor(scope: Construct, id: string, props: StepLinePipelineProps) {
    super(scope, id);
    const aws = parseAwsDeploymentConfig(props.config);
    const { config } = aws;
    const stack = Stack.of(this);
    const placement = placeSecrets(aws.secrets, {
      stackName: stack.stackName,
      importExisting: props.importExistingSecrets ?? false,
    });
    this.secretNames = new Map(placement.secrets.map((s) => [s.secretName, s.physicalName]));
    // As written (defaults are filled in by each Lambda's parse): keeps STEPLINE_CONFIG small. Secrets
    // are named as placed here, so the Lambdas read what this stack created or imported.
    const configJson = configForEnvironment(props.config, { secretNames: this.secretNames });
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logLevel = props.logLevel ?? 'INFO';
    this.providers = [...new Set(config.repositories.map((r) => r.provider))];

    // Buckets. Server access logs are delivered under a bucket policy, not the legacy log-delivery ACL
    // (the construct sets the feature flag for its own scope, so apps need no cdk.json flag).
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    this.accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      autoDeleteObjects: false,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(90) }],
    });
    suppress(this.accessLogsBucket, [
      {
        id: 'AwsSolutions-S1',
        reason:
          'This bucket is the target of the artifact bucket server access logs; logging it would recurse.',
      },
    ]);
    this.artifactBucket = new Bucket(this, 'ArtifactBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Objects are written once per run under unique keys and caches are rebuildable: versions would only cost.
      versioned: false,
      removalPolicy,
      autoDeleteObjects: false,
      serverAccessLogsBucket: this.accessLogsBucket as IBucket,
      serverAccessLogsPrefix: 'artifact-bucket/',
      lifecycleRules: [
        { id: 'ExpireRuns', prefix: 'runs/', expiration: Duration.days(config.artifactRetentionDays) },
        { id: 'ExpireCaches', prefix: 'caches/', expiration: Duration.days(config.cacheRetentionDays) },
        // Approval records hold task tokens; links expire after at most 7 days, records a while later.
        { id: 'ExpireApprovals', prefix: 'approvals/', expiration: Duration.days(approvalRetentionDays) },
        { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });

    // Secrets
    const secrets = new Map<string, ISecret>();
    const secretArns = new Map<string, string>();
    for (const spec of placement.secrets) {
      const { secret, arnForPolicies } = this.secret(spec, removalPolicy);
      secrets.set(spec.secretName, secret);
      secretArns.set(spec.secretName, arnForPolicies);
    }
    this.secrets = secrets;
    const webhookSecretArns = aws.secrets
      .filter((s) => s.kind === 'webhook')
      .map((s) => secretArns.get(s.secretName)!);
    const tokenSecretArns = aws.secrets
      .filter((s) => s.kind === 'token')
      .map((s) => secretArns.get(s.secretName)!);
    const signingKeyName = placement.signingKey.physicalName;
    const signingKey = this.approvalSigningKeySecret(
      signingKeyName,
      placement.signingKey.imported,
      removalPolicy,
    );
    this.approvalSigningKey = signingKey.secret;

    // Lambdas
    const common = { logRetention, logLevel } as const;
    const fetchSource = new PipelineFunction(this, 'FetchSource', {
      ...common,
      ...computeProps(lambdaCompute.fetchSource),
      readsSecrets: true,
      description: "Stores a commit's source archive in S3 and reads its stepline.yml",
      environment: {
        ARTIFACT_BUCKET: this.artifactBucket.bucketName,
        STEPLINE_CONFIG: configJson,
        // One format for every repository's roles, not a map: the environment holds 4 KB in all.
        TASK_ROLE_ARN_FORMAT: taskRoleArnFormat({
          partition: Aws.PARTITION,
          account: Aws.ACCOUNT_ID,
          region: Aws.REGION,
          stackName: stack.stackName,
        }),
      },
    });
    const reportStatus = new PipelineFunction(this, 'ReportStatus', {
      ...common,
      ...computeProps(lambdaCompute.reportStatus),
      readsSecrets: true,
      description: 'Reports pipeline status to the git provider',
      environment: { STEPLINE_CONFIG: configJson },
    });
    const deploy = new PipelineFunction(this, 'Deploy', {
      ...common,
      ...computeProps(lambdaCompute.deploy),
      description: 'Rolls an image out to an ECS service',
      environment: { STEPLINE_CONFIG: configJson },
    });
    const checkDeployment = new PipelineFunction(this, 'CheckDeployment', {
      ...common,
      ...computeProps(lambdaCompute.checkDeployment),
      description: 'Checks the state of an ECS rollout',
      environment: { STEPLINE_CONFIG: configJson },
    });
    const approvalEnvironment = {
      ARTIFACT_BUCKET: this.artifactBucket.bucketName,
      // By name: the same whether the stack created the secret or imported it.
      APPROVAL_SIGNING_KEY_SECRET: signingKeyName,
    };
    const requestApproval = new PipelineFunction(this, 'RequestApproval', {
      ...common,
      ...computeProps(lambdaCompute.requestApproval),
      readsSecrets: true,
      description: 'Emails approval links and stores the task token',
      environment: { ...approvalEnvironment, STEPLINE_CONFIG: configJson },
    });
    const approvalApi = new PipelineFunction(this, 'ApprovalApi', {
      ...common,
      ...computeProps(lambdaCompute.approvalApi),
      readsSecrets: true,
      description: 'Shows the approval page and records decisions',
      environment: approvalEnvironment,
    });

    // Network
    const ownVpc = props.vpc === undefined;
    if (props.vpc === undefined) {
      const vpc = new Vpc(this, 'Vpc', {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: 'Public', subnetType: SubnetType.PUBLIC, cidrMask: 24 }],
        // The default group is never used by Stepline; restricting it would add a custom-resource Lambda.
        restrictDefaultSecurityGroup: false,
      });
      vpc.addFlowLog('FlowLog', {
        destination: FlowLogDestination.toCloudWatchLogs(
          new LogGroup(this, 'VpcFlowLogs', { retention: logRetention }),
        ),
        trafficType: FlowLogTrafficType.REJECT,
      });
      // aws-cdk-lib's classes do not satisfy their interfaces under exactOptionalPropertyTypes.
      this.vpc = vpc as IVpc;
    } else {
      this.vpc = props.vpc;
    }
    const subnets = this.vpc.selectSubnets(
      props.runnerSubnets ?? { subnetType: ownVpc ? SubnetType.PUBLIC : SubnetType.PRIVATE_WITH_EGRESS },
    );
    this.runnerSecurityGroups = props.runnerSecurityGroups ?? [
      new SecurityGroup(this, 'RunnerSecurityGroup', {
        vpc: this.vpc,
        description: 'Stepline runner tasks: no ingress, egress to fetch dependencies and call AWS APIs',
        allowAllOutbound: true,
      }),
    ];
    const assignPublicIp = props.runnerAssignPublicIp ?? ownVpc;

    // Runner
    this.cluster = new Cluster(this, 'RunnerCluster', {
      vpc: this.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });
    this.runnerTaskDefinition = new FargateTaskDefinition(this, 'RunnerTaskDefinition', {
      // Named per stack: the state machine runs the family's latest revision, and two stacks in one
      // account (task-definition families are per account and region) must not share a family.
      family: taskDefinitionFamily(stack.stackName, 'runner'),
      cpu: props.runnerCpu ?? fargateCompute.runner.cpu,
      memoryLimitMiB: props.runnerMemoryMiB ?? fargateCompute.runner.memoryMiB,
      ephemeralStorageGiB: props.runnerEphemeralStorageGiB ?? fargateCompute.runner.ephemeralStorageGiB,
      runtimePlatform: fargatePlatform,
    });
    const runnerLogs = new LogGroup(this, 'RunnerLogs', { retention: logRetention });
    // One image for both task definitions: the same asset, built and pushed once.
    const runnerImage = ContainerImage.fromAsset(repoRoot, {
      file: 'functions/runner/Dockerfile',
      platform: computePlatform === 'linux/arm64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      exclude: [...runnerContextExcludes],
      ignoreMode: IgnoreMode.DOCKER,
    });
    const runnerEnvironment = {
      ARTIFACT_BUCKET: this.artifactBucket.bucketName,
      STEPLINE_HEARTBEAT_SECONDS: String(props.heartbeatSeconds ?? 20),
    };
    this.runnerTaskDefinition.addContainer('Runner', {
      containerName: runnerContainerName,
      image: runnerImage,
      logging: LogDrivers.awsLogs({ streamPrefix: 'runner', logGroup: runnerLogs }),
      environment: runnerEnvironment,
      // An init process as PID 1 reaps the orphans of the user's commands (the runner is not PID 1's equal at that).
      linuxParameters: new LinuxParameters(this, 'RunnerLinuxParameters', { initProcessEnabled: true }),
    });

    // Publisher: PublishImage in its own task definition, so only it may push images.
    this.imageRepositories = new ImageRepositories(this, 'ImageRepositories', {
      names: aws.imageRepositories,
      importExisting: props.importExistingImageRepositories ?? false,
      removalPolicy,
      ...(props.untaggedImageExpiryDays === undefined
        ? {}
        : { untaggedImageExpiryDays: props.untaggedImageExpiryDays }),
      ...(props.baseImages === undefined ? {} : { baseImages: props.baseImages }),
    });
    this.publisherTaskDefinition = new FargateTaskDefinition(this, 'PublisherTaskDefinition', {
      family: taskDefinitionFamily(stack.stackName, 'publisher'),
      cpu: props.publisherCpu ?? fargateCompute.publisher.cpu,
      memoryLimitMiB: props.publisherMemoryMiB ?? fargateCompute.publisher.memoryMiB,
      ephemeralStorageGiB: props.publisherEphemeralStorageGiB ?? fargateCompute.publisher.ephemeralStorageGiB,
      runtimePlatform: fargatePlatform,
    });
    this.publisherTaskDefinition.addContainer('Runner', {
      containerName: runnerContainerName,
      image: runnerImage,
      logging: LogDrivers.awsLogs({ streamPrefix: 'publisher', logGroup: runnerLogs }),
      linuxParameters: new LinuxParameters(this, 'PublisherLinuxParameters', { initProcessEnabled: true }),
      environment: {
        ...runnerEnvironment,
        STEPLINE_REGISTRY: this.imageRepositories.registry,
        STEPLINE_REGISTRY_AUTH: 'ecr',
        STEPLINE_BASE_REGISTRY: this.imageRepositories.baseRegistry,
        STEPLINE_PLATFORM: computePlatform,
      },
    });

    // One runner and one publisher role per configured repository (names are exact on AWS, so the list
    // is known here); a push's tasks run as its repository's roles (Overrides.TaskRoleArn).
    const repositoryTaskRoles = new Map<string, RepositoryTaskRoles>();
    for (const entry of config.repositories) {
      const repository: RepositoryRef = { provider: entry.provider, repository: entry.name };
      const roles: RepositoryTaskRoles = {
        repository,
        runner: this.repositoryTaskRole('runner', repository),
        publisher: this.repositoryTaskRole('publisher', repository),
      };
      this.grantRepositoryTask(roles.runner, repository, { caches: 'read-write' });
      this.grantRepositoryTask(roles.publisher, repository, { caches: 'none' });
      this.imageRepositories.grantPush(roles.publisher, [imageRepositoryFor(entry, entry.name)]);
      repositoryTaskRoles.set(`${entry.provider}:${entry.name}`, roles);
    }
    this.repositoryTaskRoles = repositoryTaskRoles;
    this.acknowledgeTaskDefinition(this.runnerTaskDefinition);
    this.acknowledgeTaskDefinition(this.publisherTaskDefinition);

    // State machine
    this.lanes = new ExecutionLanes(this, 'Lanes', { configJson, removalPolicy, logRetention, logLevel });
    const stateMachineLogs = new LogGroup(this, 'StateMachineLogs', { retention: logRetention });
    this.substitutions = {
      ReportStatusFunctionArn: reportStatus.function.functionArn,
      FetchSourceFunctionArn: fetchSource.function.functionArn,
      DeployFunctionArn: deploy.function.functionArn,
      CheckDeploymentFunctionArn: checkDeployment.function.functionArn,
      RequestApprovalFunctionArn: requestApproval.function.functionArn,
      LaneFunctionArn: this.lanes.handler.function.functionArn,
      RunnerClusterArn: this.cluster.clusterArn,
      // The family without a revision: RunTask takes its latest ACTIVE revision. A revisioned ARN would
      // break runs in flight at every deploy that changes the task definition: CloudFormation
      // deregisters the old revision, and ECS refuses RunTask of an INACTIVE one.
      RunnerTaskDefinitionArn: this.runnerTaskDefinition.family,
      PublisherTaskDefinitionArn: this.publisherTaskDefinition.family,
      RunnerContainerName: runnerContainerName,
      RunnerSubnets: Fn.join(',', subnets.subnetIds),
      RunnerSecurityGroups: Fn.join(
        ',',
        this.runnerSecurityGroups.map((g) => g.securityGroupId),
      ),
      RunnerAssignPublicIp: assignPublicIp ? 'ENABLED' : 'DISABLED',
    };
    const stateMachineLogLevel = props.stateMachineLogLevel ?? LogLevel.ALL;
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      definitionBody: DefinitionBody.fromString(readDefinition()),
      definitionSubstitutions: { ...this.substitutions },
      stateMachineType: StateMachineType.STANDARD,
      logs: { destination: stateMachineLogs, level: stateMachineLogLevel, includeExecutionData: false },
      tracingEnabled: true,
    });
    // The definition names the families, not the resources: no run may start before they exist.
    const stateMachineResource = this.stateMachine.node.defaultChild as CfnResource;
    for (const td of [this.runnerTaskDefinition, this.publisherTaskDefinition])
      stateMachineResource.addResourceDependency(td.node.defaultChild as CfnResource);
    this.grantStateMachine([
      reportStatus,
      fetchSource,
      deploy,
      checkDeployment,
      requestApproval,
      this.lanes.handler,
    ]);
    this.lanes.releaseEndedExecutions(this.stateMachine);

    // Webhook (after the state machine: it starts executions)
    const webhook = new PipelineFunction(this, 'Webhook', {
      ...common,
      ...computeProps(lambdaCompute.webhook),
      // Webhook secrets through the Parameters and Secrets extension: no Secrets Manager client in the bundle.
      readsSecrets: true,
      description: 'Receives git provider webhooks and starts pipeline executions',
      environment: { STATE_MACHINE_ARN: this.stateMachine.stateMachineArn, STEPLINE_CONFIG: configJson },
    });

    this.functions = {
      webhook,
      fetchSource,
      reportStatus,
      deploy,
      checkDeployment,
      requestApproval,
      approvalApi,
    };

    // Grants of the Lambdas
    webhook.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'StartPipelineExecutions',
        actions: ['states:StartExecution'],
        resources: [this.stateMachine.stateMachineArn],
      }),
    );
    this.grantSecretRead(webhook, 'ReadWebhookSecrets', webhookSecretArns);
    this.grantSecretRead(fetchSource, 'ReadProviderTokens', tokenSecretArns);
    this.grantSecretRead(reportStatus, 'ReadProviderTokens', tokenSecretArns);
    // The approval email lists the commits since production's, from the provider's API.
    this.grantSecretRead(requestApproval, 'ReadProviderTokens', tokenSecretArns);
    const runsObjects = this.artifactBucket.arnForObjects('runs/*');
    fetchSource.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteRunArtifacts',
        // Large archives are multipart uploads; a failed one is aborted.
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [runsObjects],
      }),
    );
    suppress(fetchSource.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'FetchSource writes each run under runs/<run>/ in the artifact bucket; keys are per run.',
        appliesTo: [resourceFinding(this, runsObjects)],
      },
    ]);

    this.grantDeployments(deploy, checkDeployment, aws.deployTargets);

    // HTTP API
    const apiLogs = new LogGroup(this, 'ApiAccessLogs', { retention: logRetention });
    this.api = new HttpApi(this, 'HttpApi', {
      description: 'Stepline webhooks and approvals',
      createDefaultStage: false,
    });
    const throttle: ThrottleSettings = {
      rateLimit: props.throttleRateLimit ?? 20,
      burstLimit: props.throttleBurstLimit ?? 40,
    };
    new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(apiLogs),
        // HTTP API variables only (the CLF default names REST-only ones such as resourcePath).
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
            latency: '$context.responseLatency',
          }),
        ),
      },
    });
    const webhookRoutes = this.api.addRoutes({
      path: '/webhooks/{provider}',
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration('WebhookIntegration', webhook.function),
    });
    const approvalRoutes = this.api.addRoutes({
      path: '/approvals/{id}',
      methods: [HttpMethod.GET, HttpMethod.POST],
      integration: new HttpLambdaIntegration('ApprovalIntegration', approvalApi.function),
    });
    for (const route of webhookRoutes) {
      suppress(route, [
        {
          id: 'AwsSolutions-APIG4',
          reason:
            'Git providers cannot sign in; the webhook Lambda authenticates every delivery by its HMAC signature or token.',
        },
      ]);
    }
    for (const route of approvalRoutes) {
      suppress(route, [
        {
          id: 'AwsSolutions-APIG4',
          reason:
            'Approvers open links from an email; each link carries a signed, expiring, single-use token checked by the Lambda.',
        },
      ]);
    }

    // Approval links point at this API. No cycle: RequestApproval is no integration of the API, and the
    // approval API Lambda (which is) needs no URL of its own, its form posts back to the page's path.
    requestApproval.function.addEnvironment('APPROVAL_BASE_URL', this.api.apiEndpoint);
    this.grantApprovals(requestApproval, approvalApi, {
      config,
      productionTargets: aws.deployTargets.filter((t) => t.environment === 'production'),
      signingKeyArn: signingKey.arnForPolicies,
      sesSandboxRecipients: props.sesSandboxRecipients ?? false,
    });

    this.taskStopped = new TaskStoppedHandler(this, 'TaskStopped', {
      clusterArn: this.cluster.clusterArn,
      containerName: runnerContainerName,
      logRetention,
      logLevel,
    });

    // Notifications (in this construct's scope: the topic and its subscriptions keep their ids)
    const notifications = addNotifications(this, {
      stateMachine: this.stateMachine,
      api: this.api,
      emails: config.notificationEmails,
    });
    this.topic = notifications.topic;
    this.alarms = notifications.alarms;

    if (stateMachineLogLevel !== LogLevel.ALL) {
      suppress(this.stateMachine, [
        {
          id: 'AwsSolutions-SF1',
          reason:
            'Logging level lowered to ERROR by the stateMachineLogLevel prop; execution history keeps every event.',
        },
      ]);
    }
  }

  /** `<api>/webhooks/<provider>`: the URL to paste into the provider's webhook settings. */
  webhookUrl(provider: Provider): string {
    return `${this.api.apiEndpoint}/webhooks/${provider}`;
  }

  private secret(
    spec: SecretPlacement,
    removalPolicy: RemovalPolicy,
  ): { secret: ISecret; arnForPolicies: string } {
    // Construct ids are part of the contract: derived from the config's name, '/' is not allowed in an id.
    const id = `Secret:${spec.secretName.replaceAll('/', '|')}`;
    if (spec.imported) {
      const secret = Secret.fromSecretNameV2(this, id, spec.physicalName);
      // A name-only import has no random suffix: IAM needs the six-character wildcard Secrets Manager appends.
      return { secret, arnForPolicies: `${secret.secretArn}-??????` };
    }
    const secret =
      spec.kind === 'webhook'
        ? new Secret(this, id, {
            secretName: spec.physicalName,
            description: 'Stepline webhook secret: paste it into the git provider webhook settings',
            generateSecretString: { excludePunctuation: true, passwordLength: 40 },
            removalPolicy,
          })
        : new Secret(this, id, {
            secretName: spec.physicalName,
            description: 'Stepline provider API token: overwrite with aws secretsmanager put-secret-value',
            // Not a secret: a placeholder the operator overwrites after the first deploy.
            secretStringValue: SecretValue.unsafePlainText(
              'REPLACE_ME: aws secretsmanager put-secret-value --secret-id <this secret> --secret-string <token>',
            ),
            removalPolicy,
          });
    suppress(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotation is not applicable: the value is a git provider webhook secret or API token that must be changed in the provider too.',
      },
    ]);
    return { secret: secret as ISecret, arnForPolicies: secret.secretArn };
  }

  /** The approval links' HMAC key: generated, named after the stack, never rotated (rotation would void open links). */
  private approvalSigningKeySecret(
    secretName: string,
    importExisting: boolean,
    removalPolicy: RemovalPolicy,
  ): { secret: ISecret; arnForPolicies: string } {
    if (importExisting) {
      const secret = Secret.fromSecretNameV2(this, 'ApprovalSigningKey', secretName);
      return { secret, arnForPolicies: `${secret.secretArn}-??????` };
    }
    const secret = new Secret(this, 'ApprovalSigningKey', {
      secretName,
      description: 'Stepline: HMAC key of the approval links (generated; replacing it voids open links)',
      generateSecretString: { excludePunctuation: true, passwordLength: 64 },
      removalPolicy,
    });
    suppress(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating the approval signing key would void every approval link still open; links expire with their request (at most 7 days).',
      },
    ]);
    return { secret: secret as ISecret, arnForPolicies: secret.secretArn };
  }

  private grantSecretRead(fn: PipelineFunction, sid: string, arns: readonly string[]): void {
    if (arns.length === 0) return;
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({ sid, actions: ['secretsmanager:GetSecretValue'], resources: [...arns] }),
    );
    // Imported names end in `-??????` (Secrets Manager's random suffix); cdk-nag flags only `*`.
    const wildcards = arns
      .map((arn) => resourceFinding(this, arn))
      .filter((finding) => finding.includes('*'));
    if (wildcards.length > 0) {
      suppress(fn.role, [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'Secrets referenced by a name pattern; each resource is one configured secret.',
          appliesTo: wildcards,
        },
      ]);
    }
  }

  /**
   * RequestApproval stores the task token under approvals/ and emails the approvers as the configured
   * sender; the approval API reads the record, checks the execution and hands the decision back.
   */
  private grantApprovals(
    requestApproval: PipelineFunction,
    approvalApi: PipelineFunction,
    options: {
      config: DeploymentConfig;
      productionTargets: readonly DeployTarget[];
      signingKeyArn: string;
      sesSandboxRecipients: boolean;
    },
  ): void {
    const stack = Stack.of(this);
    const approvals = this.artifactBucket.arnForObjects('approvals/*');
    for (const fn of [requestApproval, approvalApi]) {
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadSigningKey',
          actions: ['secretsmanager:GetSecretValue'],
          resources: [options.signingKeyArn],
        }),
      );
      // RequestApproval only writes a new record; the approval API reads it and writes the decision.
      const writeOnly = fn === requestApproval;
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: writeOnly ? 'WriteApprovalRecords' : 'ReadWriteApprovalRecords',
          actions: writeOnly ? ['s3:PutObject'] : ['s3:GetObject', 's3:PutObject'],
          resources: [approvals],
        }),
      );
      suppress(fn.role, [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'Approval records are one object per request under approvals/ (approvals/<id>.json).',
          appliesTo: [resourceFinding(this, approvals)],
        },
      ]);
      if (options.signingKeyArn.endsWith('-??????')) {
        suppress(fn.role, [
          {
            id: 'AwsSolutions-IAM5',
            reason: 'The imported signing key is referenced by name; the pattern matches that one secret.',
            appliesTo: [resourceFinding(this, options.signingKeyArn)],
          },
        ]);
      }
    }

    approvalApi.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ListApprovalRecords',
        actions: ['s3:ListBucket'],
        resources: [this.artifactBucket.bucketArn],
        // Without ListBucket, S3 answers a GetObject of a missing record with 403, not 404: a link
        // whose record is gone would be a server error instead of a 410. IfExists: that GetObject
        // is checked without an s3:prefix; prefixed listings stay limited to approvals/.
        conditions: { StringLikeIfExists: { 's3:prefix': ['approvals/*'] } },
      }),
    );

    // SES authorizes a send against the sender's identity: the address itself, or its domain when the
    // domain is what was verified. The condition keeps the From address fixed whichever matches.
    const { emailFrom } = options.config;
    const domain = emailFrom.slice(emailFrom.lastIndexOf('@') + 1);
    const identityArn = (identity: string) =>
      stack.formatArn({
        service: 'ses',
        resource: 'identity',
        resourceName: identity,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
    const recipients = options.sesSandboxRecipients
      ? [...options.config.repositories.flatMap((r) => r.approvers), ...options.config.notificationEmails]
      : [];
    const identities = [...new Set([emailFrom, domain, ...recipients])];
    requestApproval.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'SendAsConfiguredSender',
        actions: ['ses:SendEmail'],
        resources: identities.map(identityArn),
        conditions: { StringEquals: { 'ses:FromAddress': emailFrom } },
      }),
    );
    if (options.productionTargets.length > 0) {
      requestApproval.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadProductionServices',
          // The email shows the commit production runs now, from its service and task definition.
          actions: ['ecs:DescribeServices'],
          resources: [...new Set(options.productionTargets.map((t) => serviceArnOf(stack, t)))],
        }),
      );
      requestApproval.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadTaskDefinitions',
          actions: ['ecs:DescribeTaskDefinition'],
          resources: ['*'],
        }),
      );
      suppress(requestApproval.role, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecs:DescribeTaskDefinition does not support resource-level permissions (AWS requires Resource "*").',
          appliesTo: ['Resource::*'],
        },
      ]);
    }

    approvalApi.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'DecideApprovals',
        // No resource-level permissions: AWS requires Resource "*"; the task token (kept in the record,
        // never in a link) is what names the execution.
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        resources: ['*'],
      }),
    );
    const executions = stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${this.stateMachine.stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    approvalApi.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'DescribePipelineExecutions',
        actions: ['states:DescribeExecution'],
        resources: [executions],
      }),
    );
    suppress(approvalApi.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'states:SendTaskSuccess/SendTaskFailure do not support resource-level permissions (AWS requires Resource "*"); only this Lambda has them, and it sends only tokens from approval records.',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Executions of this state machine only (execution:<state machine name>:<execution>).',
        appliesTo: [resourceFinding(this, executions)],
      },
    ]);
  }

  /**
   * The state machine's own permissions for the ASL file (CDK cannot derive them from a string
   * definition), as AWS documents them for the integrations it uses ("IAM policies for Amazon
   * ECS/AWS Fargate" and "for AWS Lambda" in the Step Functions guide): `.waitForTaskToken` RunTask
   * needs ecs:RunTask and iam:PassRole only (ecs:StopTask, ecs:DescribeTasks and the events:* rule
   * actions belong to `.sync`, which waits for the task itself); Lambda tasks need
   * lambda:InvokeFunction on the functions as the definition names them, unqualified (no `:*`
   * for versions or aliases it never calls).
   */
  private grantStateMachine(functions: readonly PipelineFunction[]): void {
    const stack = Stack.of(this);
    const sm = this.stateMachine;
    sm.addToRolePolicy(
      new PolicyStatement({
        sid: 'InvokePipelineFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: functions.map((f) => f.function.functionArn),
      }),
    );
    const taskDefinitions = [this.runnerTaskDefinition, this.publisherTaskDefinition];
    const taskDefinitionFamilyArns = taskDefinitions.map((td) =>
      stack.formatArn({
        service: 'ecs',
        resource: 'task-definition',
        resourceName: `${td.family}:*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    );
    sm.addToRolePolicy(
      new PolicyStatement({
        sid: 'RunRunnerTasks',
        actions: ['ecs:RunTask'],
        resources: taskDefinitionFamilyArns,
        conditions: { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } },
      }),
    );
    sm.addToRolePolicy(
      new PolicyStatement({
        sid: 'PassRunnerRoles',
        actions: ['iam:PassRole'],
        // The repositories' roles (the TaskRoleArn override), the execution roles, and the task
        // definitions' own task roles, which have no permissions (in case ECS checks them as well).
        resources: [
          ...[...this.repositoryTaskRoles.values()].flatMap((r) => [r.runner.roleArn, r.publisher.roleArn]),
          ...taskDefinitions.flatMap((td) => [td.taskRole.roleArn, td.obtainExecutionRole().roleArn]),
        ],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    // PropagateTags TASK_DEFINITION (in the ASL) copies the task definition's tags (`cdk deploy --tags`,
    // an organisation's tag policies) to each task, for cost allocation per run; a RunTask that tags
    // is also authorized as ecs:TagResource on the new task. Only while RunTask creates it.
    const runnerTasks = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${this.cluster.clusterName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    sm.addToRolePolicy(
      new PolicyStatement({
        sid: 'TagRunnerTasksAtLaunch',
        actions: ['ecs:TagResource'],
        resources: [runnerTasks],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      }),
    );
    suppress(sm.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'RunTask takes the latest ACTIVE revision of the runner and publisher families (family:*), so runs in flight survive a deploy that replaces a revision; ecs:TagResource only on tasks of the runner cluster, only while RunTask creates them.',
        appliesTo: [
          ...taskDefinitionFamilyArns.map((arn) => resourceFinding(this, arn)),
          resourceFinding(this, runnerTasks),
        ],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'CloudWatch Logs delivery and X-Ray actions added by CDK for state machine logging and tracing do not support resource-level permissions.',
        appliesTo: ['Resource::*'],
      },
    ]);
  }

  /**
   * `stepline-<kind>-<stack>-<repository>-<region>` under /stepline/: the name FetchSource computes
   * (#shared/task-roles.ts). Only ECS tasks of this account and region may assume it.
   */
  private repositoryTaskRole(kind: TaskRoleKind, repository: RepositoryRef): Role {
    const stack = Stack.of(this);
    // Construct ids are part of the contract: derived from provider and name ('/' is not allowed in an id).
    const id = `${kind === 'runner' ? 'Runner' : 'Publisher'}TaskRole:${repository.provider}:${repository.repository.toLowerCase().replaceAll('/', '|')}`;
    return new Role(this, id, {
      roleName: taskRoleName(kind, stack.stackName, repository, Aws.REGION),
      path: taskRolePath,
      description: `Stepline ${kind} tasks of ${repository.provider} ${repository.repository}: its own objects only`,
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: {
          // Confused deputy: only ECS acting for this account and region.
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
        },
      }),
    });
  }

  /**
   * A repository's task may touch only that repository's runs/<provider>/<repository>/ (and its
   * caches/ for Build and Test) in the bucket, and report back to Step Functions.
   */
  private grantRepositoryTask(
    role: IRole,
    repository: RepositoryRef,
    options: { caches: 'read-write' | 'none' },
  ): void {
    const withCaches = options.caches === 'read-write';
    const prefixes = withCaches
      ? [repositoryRunsPrefix(repository), repositoryCachesPrefix(repository)]
      : [repositoryRunsPrefix(repository)];
    const objects = prefixes.map((prefix) => this.artifactBucket.arnForObjects(`${prefix}*`));
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: withCaches ? 'ReadWriteRunsAndCaches' : 'ReadWriteRuns',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: objects,
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: withCaches ? 'ListRunsAndCaches' : 'ListRuns',
        actions: ['s3:ListBucket'],
        resources: [this.artifactBucket.bucketArn],
        // IfExists: a GetObject/HeadObject of a missing cache key is checked against ListBucket without an
        // s3:prefix; allowing it makes S3 answer 404 (a cache miss) instead of 403. The price: a listing
        // without a prefix is allowed too (it shows key names, not contents); prefixed listings stay
        // limited to this repository's prefixes.
        conditions: { StringLikeIfExists: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReportTaskResults',
        actions: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        resources: ['*'],
      }),
    );
    suppress(role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'states:SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat do not support resource-level permissions; AWS requires Resource "*" (the task token is the authorization).',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason: withCaches
          ? "A repository's runner reads and writes only that repository's objects under runs/ and caches/; keys are per run and per cache."
          : "A repository's publisher reads and writes only that repository's objects under runs/; keys are per run.",
        appliesTo: objects.map((arn) => resourceFinding(this, arn)),
      },
    ]);
  }

  private acknowledgeTaskDefinition(taskDefinition: FargateTaskDefinition): void {
    suppress(taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The container environment holds the bucket name, the heartbeat period and (publisher) registry host names, no secrets.',
      },
    ]);
    suppress(taskDefinition.obtainExecutionRole(), [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'ecr:GetAuthorizationToken (added by CDK to pull the runner image) does not support resource-level permissions.',
        appliesTo: ['Resource::*'],
      },
    ]);
  }

  /**
   * Deploy and CheckDeployment may update and describe the configured services only, and Deploy may
   * pass only those services' task and execution roles, only to ECS tasks.
   */
  private grantDeployments(
    deploy: PipelineFunction,
    check: PipelineFunction,
    targets: readonly DeployTarget[],
  ): void {
    if (targets.length === 0) return;
    const stack = Stack.of(this);
    const serviceArns = [...new Set(targets.map((t) => serviceArnOf(stack, t)))];
    const roleArns = [...new Set(targets.flatMap((t) => [t.taskRoleArn, t.executionRoleArn]))];
    const taskDefinitions = stack.formatArn({
      service: 'ecs',
      resource: 'task-definition',
      resourceName: '*',
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    deploy.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RollOutConfiguredServices',
        actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
        resources: serviceArns,
      }),
    );
    deploy.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RegisterTaskDefinitionRevisions',
        // Neither action supports resource-level permissions: AWS requires Resource "*".
        actions: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'],
        resources: ['*'],
      }),
    );
    deploy.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'TagNewRevisions',
        // Tags given to RegisterTaskDefinition are authorized as ecs:TagResource; the condition
        // allows tagging only while registering, never re-tagging an existing revision.
        actions: ['ecs:TagResource'],
        resources: [taskDefinitions],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
      }),
    );
    deploy.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PassServiceRoles',
        actions: ['iam:PassRole'],
        resources: roleArns,
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    check.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WatchConfiguredServices',
        // UpdateService: the explicit rollback to the recorded previous revision after a deadline or a failed smoke check.
        actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
        resources: serviceArns,
      }),
    );
    check.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadTaskDefinitions',
        // The revisions' Stepline tags (commit, previous revision) say where a rollback goes.
        actions: ['ecs:DescribeTaskDefinition'],
        resources: ['*'],
      }),
    );
    suppress(check.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'ecs:DescribeTaskDefinition does not support resource-level permissions (AWS requires Resource "*").',
        appliesTo: ['Resource::*'],
      },
    ]);
    suppress(deploy.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'ecs:DescribeTaskDefinition and ecs:RegisterTaskDefinition do not support resource-level permissions (AWS requires Resource "*"); what a new revision may run as is limited by iam:PassRole on the configured roles.',
        appliesTo: ['Resource::*'],
      },
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'Task-definition families of the configured services are not known to the stack; ecs:TagResource is limited to tags given while registering a revision (ecs:CreateAction).',
        appliesTo: [resourceFinding(this, taskDefinitions)],
      },
    ]);
  }
}

/** `arn:<partition>:ecs:<region>:<account>:service/<cluster>/<service>` of a configured target. */
export function serviceArnOf(stack: Stack, target: DeployTarget): string {
  const resourceName = `${target.cluster}/${target.service}`;
  if (target.partition !== undefined && target.region !== undefined && target.account !== undefined) {
    return `arn:${target.partition}:ecs:${target.region}:${target.account}:service/${resourceName}`;
  }
  return stack.formatArn({
    service: 'ecs',
    resource: 'service',
    resourceName,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
}
