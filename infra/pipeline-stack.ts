import { Aspects, CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import { SecurityGroup, Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { DropRedundantDependsOn } from './dependencies.ts';
import { StepLinePipeline, type StepLinePipelineProps } from './stepline-pipeline.ts';

/** Props of {@link PipelineStack}. */
export interface PipelineStackProps extends StackProps {
  /** Everything the pipeline construct takes (its network comes from {@link network}). */
  readonly pipeline: Omit<StepLinePipelineProps, 'vpc' | 'runnerSubnets' | 'runnerSecurityGroups'>;
  /**
   * An existing network for the runner tasks, by id (imported without lookups, so synth stays offline).
   * @default - a new VPC with public subnets only, no NAT gateway
   */
  readonly network?: ExistingNetwork;
}

/** Ids of an existing VPC, its subnets and optionally security groups for the runner tasks. */
export interface ExistingNetwork {
  readonly vpcId: string;
  /** Subnets the runner tasks run in; they need a route to the internet (NAT or public IP) or VPC endpoints. */
  readonly subnetIds: readonly string[];
  /** @default - a new egress-only security group in the VPC */
  readonly securityGroupIds?: readonly string[];
  /** Give the tasks public IPs (public subnets without NAT). @default false */
  readonly assignPublicIp?: boolean;
}

/**
 * The Stepline stack: one {@link StepLinePipeline} and the outputs a team needs after `cdk deploy`
 * (webhook URLs, state machine, bucket, secret names). Environment-agnostic: no lookups.
 */
export class PipelineStack extends Stack {
  readonly pipeline: StepLinePipeline;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    // No DependsOn that a Ref or GetAtt already implies (cfn-lint W3005).
    Aspects.of(this).add(new DropRedundantDependsOn());
    const { network } = props;
    this.pipeline = new StepLinePipeline(
      this,
      'Pipeline',
      network === undefined
        ? props.pipeline
        : {
            ...props.pipeline,
            vpc: Vpc.fromVpcAttributes(this, 'ExistingVpc', {
              vpcId: network.vpcId,
              availabilityZones: Fn.getAzs(),
            }),
            runnerSubnets: {
              subnets: network.subnetIds.map((id, i) => Subnet.fromSubnetId(this, `ExistingSubnet${i}`, id)),
            },
            ...(network.securityGroupIds === undefined || network.securityGroupIds.length === 0
              ? {}
              : {
                  runnerSecurityGroups: network.securityGroupIds.map((id, i) =>
                    SecurityGroup.fromSecurityGroupId(this, `ExistingSecurityGroup${i}`, id),
                  ),
                }),
            runnerAssignPublicIp: network.assignPublicIp ?? false,
          },
    );
    const { pipeline } = this;

    for (const provider of pipeline.providers) {
      const name = provider.charAt(0).toUpperCase() + provider.slice(1);
      new CfnOutput(this, `${name}WebhookUrl`, {
        description: `Payload URL for ${provider} webhooks (push events)`,
        value: pipeline.webhookUrl(provider),
      });
    }
    new CfnOutput(this, 'StateMachineArn', { value: pipeline.stateMachine.stateMachineArn });
    new CfnOutput(this, 'StateMachineConsoleUrl', {
      description: 'Executions in the Step Functions console',
      value: `https://${this.region}.console.aws.amazon.com/states/home?region=${this.region}#/statemachines/view/${pipeline.stateMachine.stateMachineArn}`,
    });
    new CfnOutput(this, 'ArtifactBucketName', { value: pipeline.artifactBucket.bucketName });
    new CfnOutput(this, 'NotificationTopicArn', { value: pipeline.topic.topicArn });
    const repositories = [...pipeline.imageRepositories.repositories.values()];
    if (repositories.length > 0) {
      new CfnOutput(this, 'ImageRepositoryUris', {
        description: 'ECR repositories PublishImage pushes to (one per configured image repository)',
        value: Fn.join(
          ',',
          repositories.map((r) => r.repositoryUri),
        ),
      });
    }
    new CfnOutput(this, 'ApprovalSigningKeyName', {
      description: 'Secrets Manager secret the approval links are signed with',
      value: pipeline.approvalSigningKey.secretName,
    });
    const names = [...pipeline.secretNames.values()];
    if (names.length > 0) {
      new CfnOutput(this, 'SecretNames', {
        description:
          'Secrets Manager secrets of the configured repositories (webhook secrets and provider tokens)',
        value: names.join(','),
      });
    }
  }
}
