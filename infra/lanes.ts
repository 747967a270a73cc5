import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { lambdaCompute } from '#shared/compute.ts';
import { suppress } from './nag.ts';
import { computeProps, PipelineFunction } from './pipeline-function.ts';

/** Props of {@link ExecutionLanes}. */
export interface ExecutionLanesProps {
  /** The deployment configuration as the Lambdas get it (`STEPLINE_CONFIG`): each repository's `executionMode`. */
  readonly configJson: string;
  /** What happens to the lane table when it leaves the stack. */
  readonly removalPolicy: RemovalPolicy;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: string;
}

/**
 * Execution modes (`superseded`, `queued`, `parallel`): one DynamoDB item per lane (provider,
 * repository and branch) changed only by conditional writes, the lane Lambda (`functions/lane`) that
 * the state machine's lane states call, and (through {@link releaseEndedExecutions}) an EventBridge
 * rule that releases the lane of an execution that ended without its `LeaveLane` state. See
 * docs/aws.md, "Execution modes at scale".
 */
export class ExecutionLanes extends Construct {
  readonly table: Table;
  readonly handler: PipelineFunction;
  rule?: Rule;

  constructor(scope: Construct, id: string, props: ExecutionLanesProps) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      // Pushes come in bursts; a lane costs a few writes per run and nothing while idle.
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      // Entries of executions that ended unseen (a lost event) and execution pointers expire.
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: props.removalPolicy,
    });
    this.handler = new PipelineFunction(this, 'Function', {
      ...computeProps(lambdaCompute.lane),
      description: 'Stepline: execution-mode lanes (superseded, queued, parallel) of each branch',
      environment: { STEPLINE_CONFIG: props.configJson, LANE_TABLE: this.table.tableName },
      ...(props.logRetention === undefined ? {} : { logRetention: props.logRetention }),
      ...(props.logLevel === undefined ? {} : { logLevel: props.logLevel }),
    });
    this.handler.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadAndWriteLanes',
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [this.table.tableArn],
      }),
    );
    this.handler.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WakeQueuedExecutions',
        actions: ['states:SendTaskSuccess'],
        resources: ['*'],
      }),
    );
    suppress(this.handler.role, [
      {
        id: 'AwsSolutions-IAM5',
        reason:
          'states:SendTaskSuccess does not support resource-level permissions (AWS requires Resource "*"); the lane answers only WaitInLane tokens it stored itself.',
        appliesTo: ['Resource::*'],
      },
    ]);
  }

  /**
   * Sends every end of an execution of `stateMachine` (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) to the
   * lane Lambda, which releases the execution's lane if it still holds one. Step Functions delivers
   * these events best effort: the `LeaveLane` states are the first way out, this the second, and an
   * entry's expiry (9 days, past any execution's end) the last.
   */
  releaseEndedExecutions(stateMachine: IStateMachine): Rule {
    this.rule = new Rule(this, 'ReleaseRule', {
      description: 'A Stepline execution ended: release its execution-mode lane if it still holds one',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [stateMachine.stateMachineArn],
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      targets: [
        new LambdaFunction(this.handler.function, {
          // The execution, its status and when it changed (a redriven run's lane ignores an older
          // end, delivered late), never its input or output.
          event: RuleTargetInput.fromObject({
            source: 'aws.states',
            'detail-type': 'Step Functions Execution Status Change',
            time: EventField.time,
            detail: {
              executionArn: EventField.fromPath('$.detail.executionArn'),
              status: EventField.fromPath('$.detail.status'),
            },
          }),
          retryAttempts: 8,
          maxEventAge: Duration.hours(2),
        }),
      ],
    });
    return this.rule;
  }
}
