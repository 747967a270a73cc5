import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { actions, logicalId, resources, statement, statementsOf, synth } from '../fixture.ts';

// Execution modes (issue 11): one DynamoDB table of lanes, the lane Lambda, and a rule that releases
// the lane of an execution that ended without its LeaveLane state.

describe('execution-mode lanes', () => {
  it('keeps lanes in an on-demand, encrypted table with point-in-time recovery and expiring items', () => {
    const { stack, template } = synth();

    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    const tables = template.findResources('AWS::DynamoDB::Table');
    expect(tables[logicalId(stack.pipeline.lanes.table)]?.DeletionPolicy).toBe('Retain');
  });

  it('lets the lane Lambda read and write items of its own table only, with no query, scan or batch', () => {
    const { stack } = synth();
    const { lanes } = stack.pipeline;

    const table = statement(lanes.handler.role, 'ReadAndWriteLanes');
    expect(actions(table).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(resources(table)).toEqual([stack.resolve(lanes.table.tableArn)]);
    const everything = statementsOf(lanes.handler.role).flatMap(actions);
    expect(everything.filter((a) => a.startsWith('dynamodb:'))).toHaveLength(3);
    expect(everything.filter((a) => a.startsWith('states:'))).toEqual(['states:SendTaskSuccess']);
  });

  it('tells the lane Lambda its table and the deployment config', () => {
    const { stack, template } = synth();
    const { lanes } = stack.pipeline;

    const fn = template.findResources('AWS::Lambda::Function')[logicalId(lanes.handler.function)] as {
      Properties: { Environment: { Variables: Record<string, unknown> } };
    };
    expect(fn.Properties.Environment.Variables.LANE_TABLE).toEqual(stack.resolve(lanes.table.tableName));
    expect(typeof fn.Properties.Environment.Variables.STEPLINE_CONFIG).toBe('string');
  });

  it('sends every end of an execution of this state machine to the lane Lambda, without its input or output', () => {
    const { stack, template } = synth();
    const { lanes, stateMachine } = stack.pipeline;

    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [stack.resolve(stateMachine.stateMachineArn)],
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(lanes.handler.function), 'Arn'] },
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 8 }),
          InputTransformer: {
            InputPathsMap: {
              'detail-executionArn': '$.detail.executionArn',
              'detail-status': '$.detail.status',
              time: '$.time',
            },
            InputTemplate: Match.anyValue(),
          },
        }),
      ],
    });
  });

  it('gives the state machine the lane Lambda to call', () => {
    const { stack } = synth();

    const definition = JSON.stringify(stack.resolve(stack.pipeline.substitutions.LaneFunctionArn));
    expect(definition).toContain(logicalId(stack.pipeline.lanes.handler.function));
  });
});
