import { Duration } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { lambdaCompute } from '#shared/compute.ts';
import { suppress } from './nag.ts';
import { computeProps, PipelineFunction } from './pipeline-function.ts';

/** Props of {@link TaskStoppedHandler}. */
export interface TaskStoppedHandlerProps {
  /** ARN of the cluster Build, Test and PublishImage run their tasks in (nothing else runs there). */
  readonly clusterArn: string;
  /** The runner's container name in the runner and publisher task definitions. */
  readonly containerName: string;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: string;
}

/**
 * Fails a runner state as soon as its task stops without reporting (out of memory, a crash, an
 * image that cannot be pulled), with ECS's reason as the cause, instead of leaving it to
 * `HeartbeatSeconds` and a bare `States.HeartbeatTimeout`.
 *
 * An EventBridge rule sends the runner cluster's "ECS Task State Change" events for STOPPED tasks to
 * a Lambda (`functions/task-stopped`). The task token is read from the event itself (the task's
 * container overrides, which the event carries as DescribeTasks would): no token is ever stored.
 */
export class TaskStoppedHandler extends Construct {
  readonly handler: PipelineFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: TaskStoppedHandlerProps) {
    super(scope, id);
    this.handler = new PipelineFunction(this, 'Function', {
      ...computeProps(lambdaCompute.taskStopped),
      description: 'Stepline: fails the runner state of a task that stopped without reporting',
      environment: { RUNNER_CONTAINER_NAME: props.containerName },
      ...(props.logRetention === undefined ? {} : { logRetention: props.logRetention }),
      ...(props.logLevel === undefined ? {} : { logLevel: props.logLevel }),
    });
    this.handler.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'FailStoppedRunnerTasks',
        actions: ['states:SendTaskFailure'],
        resources: ['*'],
      }),
    );
    suppress(this.handler.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'states:SendTaskFailure does not support resource-level permissions (AWS requires Resource "*"); the task token from the stopped task is the authorization.',
        appliesTo: ['Resource::*'],
      },
    ]);
    this.rule = new Rule(this, 'Rule', {
      description: 'A Stepline runner task stopped: fail its state at once if it did not report',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: { clusterArn: [props.clusterArn], lastStatus: ['STOPPED'] },
      },
      targets: [
        new LambdaFunction(this.handler.function, {
          retryAttempts: 8,
          maxEventAge: Duration.minutes(30),
        }),
      ],
    });
  }
}
