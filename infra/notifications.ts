import { ArnFormat, Aws, Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { suppress } from './nag.ts';

/** What {@link addNotifications} needs: what to watch and whom to tell. */
export interface NotificationsProps {
  /** The pipeline state machine: its failed, timed-out and aborted executions are notified. */
  readonly stateMachine: StateMachine;
  /** The HTTP API: 5xx answers raise an alarm. */
  readonly api: HttpApi;
  /** Subscribed to the topic by email (each confirms AWS's subscription email once). */
  readonly emails: readonly string[];
}

/** The topic and what publishes to it. */
export interface Notifications {
  readonly topic: Topic;
  readonly executionRule: Rule;
  readonly alarms: readonly Alarm[];
}

/**
 * The fields of a "Step Functions Execution Status Change" event a notification carries. The event
 * also holds the execution's input and output and the failure's cause (up to 256 KiB of push payload,
 * commit messages, provider answers): those stay out of the message, whose subscribers are email
 * addresses. `startDate`/`stopDate` are epoch milliseconds, `time` the event's ISO 8601 time (the
 * status change); `error` is the error name only (`BuildFailedError`, `States.Timeout`).
 */
export const notifiedExecutionFields = {
  execution: '$.detail.executionArn',
  name: '$.detail.name',
  status: '$.detail.status',
  stateMachine: '$.detail.stateMachineArn',
  startDate: '$.detail.startDate',
  stopDate: '$.detail.stopDate',
  time: '$.time',
  error: '$.detail.error',
} as const;

/**
 * `<stack name>-<suffix>`: the alarms are named so the topic policy can name them exactly
 * (`aws:SourceArn`), and per stack, since alarm names are per account and region.
 */
export function alarmName(stackName: string, suffix: 'executions-failed' | 'api-5xx'): string {
  return `${stackName}-${suffix}`;
}

/**
 * The notification topic of a Stepline stack (construct ids in `scope` are part of the contract: the
 * topic and its email subscriptions keep their logical ids): an EventBridge rule sends each failed,
 * timed-out or aborted execution as a short JSON message (an input transformer picks the fields of
 * {@link notifiedExecutionFields} and adds a console link), and two alarms (failed executions, HTTP
 * API 5xx) notify it. The topic policy lets CloudWatch publish for those two alarms only: once a
 * stack writes a topic policy (here for TLS and EventBridge) it replaces the default one, under which
 * alarms of the account could publish, and alarm emails would silently never arrive.
 */
export function addNotifications(scope: Construct, props: NotificationsProps): Notifications {
  const stack = Stack.of(scope);
  const topic = new Topic(scope, 'NotificationTopic', {
    displayName: 'Stepline pipeline notifications',
    enforceSSL: true,
  });
  suppress(topic, [
    {
      id: 'AwsSolutions-SNS2',
      reason:
        'Messages carry execution ARNs, names, statuses, times and error names (never execution input, output or causes) and alarm state changes: no secrets. EventBridge and CloudWatch alarms cannot publish to a topic under the aws/sns key, and a customer key costs per month.',
    },
  ]);
  for (const email of props.emails) topic.addSubscription(new EmailSubscription(email));

  const field = (path: string) => EventField.fromPath(path);
  const message = RuleTargetInput.fromObject({
    summary: `Stepline execution ${field(notifiedExecutionFields.status)}: ${field(notifiedExecutionFields.name)}`,
    ...Object.fromEntries(Object.entries(notifiedExecutionFields).map(([key, path]) => [key, field(path)])),
    console: `https://${Aws.REGION}.console.aws.amazon.com/states/home?region=${Aws.REGION}#/v2/executions/details/${field(notifiedExecutionFields.execution)}`,
  });
  const executionRule = new Rule(scope, 'ExecutionFailedRule', {
    description: 'A Stepline pipeline execution failed, timed out or was aborted',
    eventPattern: {
      source: ['aws.states'],
      detailType: ['Step Functions Execution Status Change'],
      detail: {
        status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
        stateMachineArn: [props.stateMachine.stateMachineArn],
      },
    },
    targets: [new SnsTopic(topic, { message })],
  });

  const alarmAction = new SnsAction(topic);
  const names = {
    executionsFailed: alarmName(stack.stackName, 'executions-failed'),
    api5xx: alarmName(stack.stackName, 'api-5xx'),
  };
  const alarms = [
    new Alarm(scope, 'ExecutionsFailedAlarm', {
      alarmName: names.executionsFailed,
      alarmDescription: 'Stepline pipeline executions failed',
      metric: props.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    }),
    new Alarm(scope, 'Api5xxAlarm', {
      alarmName: names.api5xx,
      alarmDescription: 'The Stepline HTTP API answered with 5xx errors',
      metric: props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    }),
  ];
  for (const alarm of alarms) alarm.addAlarmAction(alarmAction);
  // By name, not by the alarms' ARN attributes: the policy then does not wait for the alarms, and an
  // alarm never exists without the right to notify.
  const alarmArns = Object.values(names).map((name) =>
    stack.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: name,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  );
  topic.addToResourcePolicy(
    new PolicyStatement({
      sid: 'AllowStackAlarmsToPublish',
      principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      // Confused deputy: CloudWatch acting for these alarms of this account only.
      conditions: {
        ArnEquals: { 'aws:SourceArn': alarmArns },
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
      },
    }),
  );
  const policy = topic.node.tryFindChild('Policy');
  if (policy !== undefined) for (const alarm of alarms) alarm.node.addDependency(policy);
  return { topic, executionRule, alarms };
}
