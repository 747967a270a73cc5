import { ArnFormat, Aspects, CfnOutput, Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  type IVpc,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  DeploymentControllerType,
  FargateService,
  FargateTaskDefinition,
  type ICluster,
  LogDrivers,
} from 'aws-cdk-lib/aws-ecs';
import { ApplicationLoadBalancer, ApplicationProtocol } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Environment } from '#shared/deployment-config.ts';
import { DropRedundantDependsOn } from './dependencies.ts';
import { pullActions } from './image-repositories.ts';
import { suppress } from './nag.ts';
import { fargatePlatform } from './stepline-pipeline.ts';

/** Name of the container the pipeline's deploy step replaces (the config's `deploy.*.container`). */
export const demoContainerName = 'app';
/** The demo's cluster (the example config's `deploy.*.cluster`). */
export const demoClusterName = 'stepline-demo';
/** The demo's services (the example config's `deploy.*.service`). */
export const demoServiceNames: Readonly<Record<Environment, string>> = {
  staging: 'hello-staging',
  production: 'hello-production',
};
/** Role names of the demo services' task definitions (IAM names are per account, hence fixed and predictable). */
export const demoRoleNames: Readonly<Record<Environment, { task: string; execution: string }>> = {
  staging: { task: 'stepline-demo-hello-staging-task', execution: 'stepline-demo-hello-staging-execution' },
  production: {
    task: 'stepline-demo-hello-production-task',
    execution: 'stepline-demo-hello-production-execution',
  },
};
/**
 * The image the task definitions start with. The services run no task until Stepline's first
 * deployment replaces it (desired count 0), so it is never pulled; it only has to be a valid reference.
 */
export const demoPlaceholderImage = 'public.ecr.aws/docker/library/node:22-slim';

/** Props of {@link DemoStack}. */
export interface DemoStackProps extends StackProps {
  /**
   * ECR repositories (names) the services' images come from once Stepline deploys them: their
   * execution roles may pull from these.
   */
  readonly imageRepositories: readonly string[];
  /** Port the hello service listens on (passed as `PORT`). @default 8080 */
  readonly containerPort?: number;
  /** Path the load balancer health-checks. @default '/healthz' */
  readonly healthCheckPath?: string;
  /**
   * Tasks per service when the stack is created. 0: nothing runs (and nothing is billed) until the
   * pipeline's first deployment sets the config's `desiredCount`.
   * @default 0
   */
  readonly desiredCount?: number;
  /** Retention of the service log groups. @default RetentionDays.ONE_WEEK */
  readonly logRetention?: RetentionDays;
}

/**
 * An optional deploy target for trying Stepline end to end (`-c demo=true`): one cluster, one public
 * ALB, and a staging and a production Fargate service for `examples/hello-service`, with the
 * deployment circuit breaker and rollback on. Names are fixed (they match `stepline.config.example.json`);
 * the `DeployConfig` output is the config's `deploy` block for this account.
 */
export class DemoStack extends Stack {
  readonly cluster: Cluster;
  readonly loadBalancer: ApplicationLoadBalancer;
  readonly services: Readonly<Record<Environment, FargateService>>;
  readonly taskDefinitions: Readonly<Record<Environment, FargateTaskDefinition>>;
  /** The URL of each environment on the load balancer. */
  readonly urls: Readonly<Record<Environment, string>>;

  constructor(scope: Construct, id: string, props: DemoStackProps) {
    super(scope, id, props);
    // No DependsOn that a Ref or GetAtt already implies (cfn-lint W3005).
    Aspects.of(this).add(new DropRedundantDependsOn());
    const containerPort = props.containerPort ?? 8080;
    const healthCheckPath = props.healthCheckPath ?? '/healthz';
    const retention = props.logRetention ?? RetentionDays.ONE_WEEK;

    const ownVpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Public', subnetType: SubnetType.PUBLIC, cidrMask: 24 }],
      restrictDefaultSecurityGroup: false,
    });
    ownVpc.addFlowLog('FlowLog', {
      destination: FlowLogDestination.toCloudWatchLogs(new LogGroup(this, 'VpcFlowLogs', { retention })),
      trafficType: FlowLogTrafficType.REJECT,
    });
    // aws-cdk-lib's classes do not satisfy their interfaces under exactOptionalPropertyTypes.
    const vpc = ownVpc as IVpc;
    this.cluster = new Cluster(this, 'Cluster', {
      vpc,
      clusterName: demoClusterName,
      containerInsightsV2: ContainerInsights.ENABLED,
    });

    const albSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: 'Stepline demo load balancer: HTTP from anywhere',
      allowAllOutbound: false,
    });
    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc,
      internetFacing: true,
      securityGroup: albSecurityGroup,
    });
    suppress(albSecurityGroup, [
      {
        id: 'AwsSolutions-EC23',
        reason: 'A public demo service: the load balancer answers HTTP from anywhere.',
      },
    ]);
    suppress(this.loadBalancer, [
      {
        id: 'AwsSolutions-ELB2',
        reason:
          'Demo only: access logs would need a region-specific bucket policy in an environment-agnostic stack.',
      },
    ]);

    const repositoryArns = props.imageRepositories.map((name) =>
      this.formatArn({
        service: 'ecr',
        resource: 'repository',
        resourceName: name,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    );
    const ports: Readonly<Record<Environment, number>> = { production: 80, staging: 8080 };
    const services: Partial<Record<Environment, FargateService>> = {};
    const taskDefinitions: Partial<Record<Environment, FargateTaskDefinition>> = {};
    const urls: Partial<Record<Environment, string>> = {};
    for (const environment of ['staging', 'production'] as const) {
      const name = environment === 'staging' ? 'Staging' : 'Production';
      const roles = demoRoleNames[environment];
      const executionRole = new Role(this, `${name}ExecutionRole`, {
        roleName: roles.execution,
        assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: `Stepline demo ${environment}: pulls the image from ECR and writes logs`,
      });
      const taskRole = new Role(this, `${name}TaskRole`, {
        roleName: roles.task,
        assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: `Stepline demo ${environment}: the hello service calls no AWS API`,
      });
      if (repositoryArns.length > 0) {
        executionRole.addToPrincipalPolicy(
          new PolicyStatement({
            sid: 'PullSteplineImages',
            actions: [...pullActions],
            resources: repositoryArns,
          }),
        );
      }
      executionRole.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'GetRegistryToken',
          actions: ['ecr:GetAuthorizationToken'],
          resources: ['*'],
        }),
      );
      suppress(executionRole, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecr:GetAuthorizationToken does not support resource-level permissions; pulls are allowed from the configured repositories only.',
          appliesTo: ['Resource::*'],
        },
      ]);

      const taskDefinition = new FargateTaskDefinition(this, `${name}TaskDefinition`, {
        family: `${demoClusterName}-${demoServiceNames[environment]}`,
        cpu: 256,
        memoryLimitMiB: 512,
        executionRole,
        taskRole,
        // The images PublishImage builds are for this platform (STEPLINE_PLATFORM).
        runtimePlatform: fargatePlatform,
      });
      taskDefinition.addContainer('App', {
        containerName: demoContainerName,
        image: ContainerImage.fromRegistry(demoPlaceholderImage),
        portMappings: [{ containerPort }],
        environment: { PORT: String(containerPort), STAGE: environment },
        logging: LogDrivers.awsLogs({
          streamPrefix: environment,
          logGroup: new LogGroup(this, `${name}Logs`, { retention }),
        }),
      });
      suppress(taskDefinition, [
        { id: 'AwsSolutions-ECS2', reason: 'The environment holds the port and the stage name, no secrets.' },
      ]);
      const service = new FargateService(this, `${name}Service`, {
        cluster: this.cluster as ICluster,
        serviceName: demoServiceNames[environment],
        taskDefinition,
        desiredCount: props.desiredCount ?? 0,
        assignPublicIp: true,
        vpcSubnets: { subnetType: SubnetType.PUBLIC },
        circuitBreaker: { enable: true, rollback: true },
        // Explicit, as the services were created: without it the recommended feature flag
        // disableExplicitDeploymentControllerForCircuitBreaker drops the property, and CloudFormation
        // replaces a service whose DeploymentController changes, which fails for a named service.
        deploymentController: { type: DeploymentControllerType.ECS },
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
      });
      const listener = this.loadBalancer.addListener(`${name}Listener`, {
        port: ports[environment],
        protocol: ApplicationProtocol.HTTP,
        open: true,
      });
      listener.addTargets(`${name}Targets`, {
        port: containerPort,
        protocol: ApplicationProtocol.HTTP,
        targets: [service],
        healthCheck: { path: healthCheckPath, interval: Duration.seconds(15) },
        deregistrationDelay: Duration.seconds(10),
      });
      service.connections.allowFrom(this.loadBalancer, Port.tcp(containerPort));
      const url = `http://${this.loadBalancer.loadBalancerDnsName}:${ports[environment]}/`;
      // Where Stepline (the approval email, `stepline run`) says the environment answers.
      Tags.of(service).add('stepline:url', url);
      services[environment] = service;
      taskDefinitions[environment] = taskDefinition;
      urls[environment] = url;

      new CfnOutput(this, `${name}ServiceName`, { value: service.serviceName });
      new CfnOutput(this, `${name}Url`, { value: url });
    }
    this.services = services as Record<Environment, FargateService>;
    this.taskDefinitions = taskDefinitions as Record<Environment, FargateTaskDefinition>;
    this.urls = urls as Record<Environment, string>;

    const target = (environment: Environment) => ({
      cluster: demoClusterName,
      service: demoServiceNames[environment],
      container: demoContainerName,
      url: this.urls[environment],
      smokePath: healthCheckPath,
      desiredCount: 1,
      taskRoleArn: this.taskDefinitions[environment].taskRole.roleArn,
      executionRoleArn: this.taskDefinitions[environment].obtainExecutionRole().roleArn,
    });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'ContainerName', { value: demoContainerName });
    new CfnOutput(this, 'DeployConfig', {
      description: "The config's deploy block for these services (paste it into the repository's entry)",
      value: this.toJsonString({ staging: target('staging'), production: target('production') }),
    });
  }
}
