import type {
  Deployment,
  DescribeServicesCommandOutput,
  DescribeTaskDefinitionCommandOutput,
  Service,
  Tag,
  TaskDefinition,
} from '@aws-sdk/client-ecs';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import type { PublishedImage } from '#shared/published-image.ts';
import type { PushEvent } from '#shared/push-event.ts';

export const account = '123456789012';
export const cluster = 'apps';
export const serviceName = 'hello-staging';
export const family = 'hello-staging';
export const taskDefinitionArn = (revision: number) =>
  `arn:aws:ecs:eu-west-1:${account}:task-definition/${family}:${revision}`;
export const runningArn = taskDefinitionArn(41);
export const olderArn = taskDefinitionArn(40);
export const newArn = taskDefinitionArn(42);
export const taskRoleArn = `arn:aws:iam::${account}:role/hello-task`;
export const executionRoleArn = `arn:aws:iam::${account}:role/hello-execution`;

export const commit = 'c'.repeat(40);
export const runningCommit = 'b'.repeat(40);
export const digest = `sha256:${'d'.repeat(64)}`;
export const repository = `${account}.dkr.ecr.eu-west-1.amazonaws.com/acme/hello`;

export const silentLogger = { info: () => {}, warn: () => {} };

/** The deployment configuration: github acme/hello deploys to apps/hello-staging, container `app`. */
export function makeConfig(staging: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return DeploymentConfig.parse({
    repositories: [
      {
        provider: 'github',
        name: 'acme/other',
        webhookSecret: { secretName: 'other' },
      },
      {
        provider: 'github',
        name: 'acme/hello',
        webhookSecret: { secretName: 'hello' },
        deploy: {
          staging: {
            cluster,
            service: serviceName,
            container: 'app',
            minimumHealthyPercent: 50,
            maximumPercent: 150,
            desiredCount: 3,
            timeoutSeconds: 600,
            url: 'https://staging.hello.example.com',
            taskRoleArn,
            executionRoleArn,
            ...staging,
          },
        },
        ...extra,
      },
    ],
  });
}

export function makePush(overrides: { after?: string; ref?: string } = {}): PushEvent {
  const after = overrides.after ?? commit;
  const ref = overrides.ref ?? 'refs/heads/main';
  const headCommit = {
    id: after,
    message: 'Ship it',
    author: { name: 'Ada', email: 'ada@example.com' },
    timestamp: '2024-05-01T10:00:00Z',
    url: `https://github.com/acme/hello/commit/${after}`,
    added: [],
    modified: ['src/index.js'],
    removed: [],
  };
  return {
    provider: 'github',
    deliveryId: 'delivery-7',
    repository: {
      fullName: 'acme/hello',
      cloneUrl: 'https://github.com/acme/hello.git',
      defaultBranch: 'main',
    },
    ref,
    refType: ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    refName: ref.replace(/^refs\/(heads|tags)\//, ''),
    before: runningCommit,
    after,
    headCommit,
    commits: [headCommit],
    pusher: { name: 'ada' },
  };
}

export const run = {
  name: 'github-delivery-7',
  executionArn: `arn:aws:states:eu-west-1:${account}:execution:stepline-pipeline:github-delivery-7`,
  startedAt: '2024-05-01T10:00:05.000Z',
};

export const image: PublishedImage = {
  repository,
  digest,
  uri: `${repository}@${digest}`,
  tags: [commit, 'main'],
  bytesPushed: 1234,
  layers: 4,
};

export function rolloutInput(overrides: Record<string, unknown> = {}) {
  return { environment: 'staging', run, push: makePush(), image, ...overrides };
}

/** Tags Stepline put on a revision it registered for an earlier push of main. */
export function steplineTags(options: {
  commit: string;
  startedAt: string;
  execution: string;
  ref?: string;
  previous?: string;
}): Tag[] {
  return [
    { key: 'stepline:commit', value: options.commit },
    { key: 'stepline:ref', value: options.ref ?? 'refs/heads/main' },
    { key: 'stepline:started-at', value: options.startedAt },
    { key: 'stepline:execution', value: options.execution },
    { key: 'stepline:environment', value: 'staging' },
    ...(options.previous ? [{ key: 'stepline:previous', value: options.previous }] : []),
  ];
}

export const runningTags: Tag[] = [
  { key: 'team', value: 'payments' },
  { key: 'cost-center', value: 'cc-42' },
  ...steplineTags({
    commit: runningCommit,
    startedAt: '2024-05-01T09:00:00.000Z',
    execution: 'github-delivery-6',
    previous: olderArn,
  }),
];

/**
 * A realistic DescribeTaskDefinition answer: an app container with secrets, logs, a health check and
 * a mount, a FireLens log router, a sidecar, an EFS volume, ARM64 Fargate, and every read-only field
 * ECS fills in.
 */
export function runningTaskDefinition(overrides: Partial<TaskDefinition> = {}): TaskDefinition {
  return {
    taskDefinitionArn: runningArn,
    family,
    revision: 41,
    status: 'ACTIVE',
    taskRoleArn,
    executionRoleArn,
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    compatibilities: ['EC2', 'FARGATE'],
    cpu: '512',
    memory: '1024',
    runtimePlatform: { cpuArchitecture: 'ARM64', operatingSystemFamily: 'LINUX' },
    ephemeralStorage: { sizeInGiB: 30 },
    containerDefinitions: [
      {
        name: 'app',
        image: `${repository}@sha256:${'a'.repeat(64)}`,
        essential: true,
        cpu: 0,
        portMappings: [
          { containerPort: 8080, hostPort: 8080, protocol: 'tcp', name: 'http', appProtocol: 'http' },
        ],
        environment: [
          { name: 'NODE_ENV', value: 'production' },
          { name: 'PORT', value: '8080' },
        ],
        secrets: [
          {
            name: 'DATABASE_URL',
            valueFrom: `arn:aws:secretsmanager:eu-west-1:${account}:secret:hello/database-AbCdEf`,
          },
          { name: 'API_KEY', valueFrom: `arn:aws:ssm:eu-west-1:${account}:parameter/hello/api-key` },
        ],
        logConfiguration: {
          logDriver: 'awsfirelens',
          options: { Name: 'cloudwatch_logs', region: 'eu-west-1', log_group_name: '/ecs/hello' },
        },
        healthCheck: {
          command: ['CMD-SHELL', 'wget -qO- http://localhost:8080/healthz || exit 1'],
          interval: 10,
          timeout: 5,
          retries: 3,
          startPeriod: 15,
        },
        mountPoints: [{ sourceVolume: 'shared', containerPath: '/data', readOnly: false }],
        dependsOn: [{ containerName: 'log-router', condition: 'START' }],
        ulimits: [{ name: 'nofile', softLimit: 65536, hardLimit: 65536 }],
        stopTimeout: 30,
        volumesFrom: [],
        systemControls: [],
      },
      {
        name: 'log-router',
        image: 'public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0',
        essential: true,
        firelensConfiguration: { type: 'fluentbit', options: { 'enable-ecs-log-metadata': 'true' } },
        logConfiguration: {
          logDriver: 'awslogs',
          options: {
            'awslogs-group': '/ecs/hello-firelens',
            'awslogs-region': 'eu-west-1',
            'awslogs-stream-prefix': 'fb',
          },
        },
        memoryReservation: 50,
        user: '0',
      },
      {
        name: 'metrics',
        image: 'public.ecr.aws/datadog/agent:7',
        essential: false,
        environment: [{ name: 'ECS_FARGATE', value: 'true' }],
        secrets: [
          { name: 'DD_API_KEY', valueFrom: `arn:aws:secretsmanager:eu-west-1:${account}:secret:dd-XyZ` },
        ],
      },
    ],
    volumes: [
      {
        name: 'shared',
        efsVolumeConfiguration: {
          fileSystemId: 'fs-0123456789abcdef0',
          rootDirectory: '/',
          transitEncryption: 'ENABLED',
          authorizationConfig: { accessPointId: 'fsap-0123456789abcdef0', iam: 'ENABLED' },
        },
      },
    ],
    placementConstraints: [],
    requiresAttributes: [
      { name: 'com.amazonaws.ecs.capability.logging-driver.awsfirelens' },
      { name: 'ecs.capability.secrets.asm.environment-variables' },
      { name: 'ecs.capability.efsAuth' },
    ],
    registeredAt: new Date('2024-05-01T09:05:00Z'),
    registeredBy: `arn:aws:sts::${account}:assumed-role/stepline-deploy/x`,
    ...overrides,
  };
}

export function describeTaskDefinition(
  definition: TaskDefinition,
  tags: Tag[] = [],
): DescribeTaskDefinitionCommandOutput {
  return { taskDefinition: definition, tags, $metadata: {} };
}

export function deployment(overrides: Partial<Deployment> = {}): Deployment {
  return {
    id: 'ecs-svc/1111111111111111111',
    status: 'PRIMARY',
    taskDefinition: runningArn,
    desiredCount: 2,
    runningCount: 2,
    pendingCount: 0,
    failedTasks: 0,
    rolloutState: 'COMPLETED',
    rolloutStateReason: 'ECS deployment ecs-svc/1111111111111111111 completed.',
    createdAt: new Date('2024-05-01T09:06:00Z'),
    updatedAt: new Date('2024-05-01T09:08:00Z'),
    launchType: 'FARGATE',
    ...overrides,
  };
}

export function service(overrides: Partial<Service> = {}): Service {
  return {
    serviceArn: `arn:aws:ecs:eu-west-1:${account}:service/${cluster}/${serviceName}`,
    serviceName,
    clusterArn: `arn:aws:ecs:eu-west-1:${account}:cluster/${cluster}`,
    status: 'ACTIVE',
    desiredCount: 2,
    runningCount: 2,
    pendingCount: 0,
    launchType: 'FARGATE',
    taskDefinition: runningArn,
    deploymentConfiguration: {
      deploymentCircuitBreaker: { enable: true, rollback: true },
      maximumPercent: 200,
      minimumHealthyPercent: 100,
      alarms: { alarmNames: ['hello-5xx'], enable: true, rollback: true },
    },
    deployments: [deployment()],
    events: [],
    deploymentController: { type: 'ECS' },
    tags: [{ key: 'stepline:url', value: 'http://127.0.0.1:41001' }],
    ...overrides,
  };
}

export function describeServices(...services: Service[]): DescribeServicesCommandOutput {
  return { services, failures: [], $metadata: {} };
}
