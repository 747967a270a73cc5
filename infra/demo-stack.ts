import { join } from 'node:path';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  type IVpc,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  type ICluster,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { ApplicationLoadBalancer, ApplicationProtocol } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { suppress } from './nag.ts';
import { repoRoot } from './paths.ts';

/** Name of the container the pipeline's deploy step replaces (the config's `deploy.*.container`). */
export const demoContainerName = 'app';

/** Props of {@link DemoStack}. */
export interface DemoStackProps extends StackProps {
  /** Port the hello service listens on (passed as `PORT`). @default 8080 */
  readonly containerPort?: number;
  /** Path the load balancer health-checks. @default '/healthz' */
  readonly healthCheckPath?: string;
  /** Retention of the service log groups. @default RetentionDays.ONE_WEEK */
  readonly logRetention?: RetentionDays;
}

/**
 * An optional deploy target for trying Stepline end to end (`-c demo=true`): one cluster, one public
 * ALB, and a staging and a production Fargate service running `examples/hello-service`, with the
 * deployment circuit breaker and rollback on. Its outputs are the values for the config's `deploy` targets.
 */
export class DemoStack extends Stack {
  readonly cluster: Cluster;
  readonly services: Readonly<Record<'staging' | 'production', FargateService>>;

  constructor(scope: Construct, id: string, props: DemoStackProps = {}) {
    super(scope, id, props);
    const containerPort = props.containerPort ?? 8080;
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
    this.cluster = new Cluster(this, 'Cluster', { vpc, containerInsightsV2: ContainerInsights.ENABLED });

    const albSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description: 'Stepline demo load balancer: HTTP from anywhere',
      allowAllOutbound: false,
    });
    const alb = new ApplicationLoadBalancer(this, 'LoadBalancer', {
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
    suppress(alb, [
      {
        id: 'AwsSolutions-ELB2',
        reason:
          'Demo only: access logs would need a region-specific bucket policy in an environment-agnostic stack.',
      },
    ]);

    const image = ContainerImage.fromAsset(join(repoRoot, 'examples', 'hello-service'), {
      platform: Platform.LINUX_ARM64,
    });
    const ports = { production: 80, staging: 8080 } as const;
    const services: Partial<Record<'staging' | 'production', FargateService>> = {};
    for (const stage of ['staging', 'production'] as const) {
      const name = stage === 'staging' ? 'Staging' : 'Production';
      const taskDefinition = new FargateTaskDefinition(this, `${name}TaskDefinition`, {
        cpu: 256,
        memoryLimitMiB: 512,
        runtimePlatform: {
          cpuArchitecture: CpuArchitecture.ARM64,
          operatingSystemFamily: OperatingSystemFamily.LINUX,
        },
      });
      taskDefinition.addContainer('App', {
        containerName: demoContainerName,
        image,
        portMappings: [{ containerPort }],
        environment: { PORT: String(containerPort), STAGE: stage },
        logging: LogDrivers.awsLogs({
          streamPrefix: stage,
          logGroup: new LogGroup(this, `${name}Logs`, { retention }),
        }),
      });
      suppress(taskDefinition, [
        { id: 'AwsSolutions-ECS2', reason: 'The environment holds the port and the stage name, no secrets.' },
      ]);
      suppress(taskDefinition.obtainExecutionRole(), [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'ecr:GetAuthorizationToken (added by CDK to pull the image) does not support resource-level permissions.',
          appliesTo: ['Resource::*'],
        },
      ]);
      const service = new FargateService(this, `${name}Service`, {
        cluster: this.cluster as ICluster,
        taskDefinition,
        desiredCount: 1,
        assignPublicIp: true,
        vpcSubnets: { subnetType: SubnetType.PUBLIC },
        circuitBreaker: { enable: true, rollback: true },
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
      });
      const listener = alb.addListener(`${name}Listener`, {
        port: ports[stage],
        protocol: ApplicationProtocol.HTTP,
        open: true,
      });
      listener.addTargets(`${name}Targets`, {
        port: containerPort,
        protocol: ApplicationProtocol.HTTP,
        targets: [service],
        healthCheck: { path: props.healthCheckPath ?? '/healthz', interval: Duration.seconds(15) },
        deregistrationDelay: Duration.seconds(10),
      });
      service.connections.allowFrom(alb, Port.tcp(containerPort));
      services[stage] = service;

      new CfnOutput(this, `${name}ServiceName`, { value: service.serviceName });
      new CfnOutput(this, `${name}Url`, { value: `http://${alb.loadBalancerDnsName}:${ports[stage]}/` });
    }
    this.services = services as Record<'staging' | 'production', FargateService>;
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
    new CfnOutput(this, 'ContainerName', { value: demoContainerName });
  }
}
