import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { actions, logicalId, resources, statement, synth } from '../fixture.ts';

// Issue 10, finding 8: an out-of-memory kill or a failed start reached the history only as a bare
// States.HeartbeatTimeout. A rule on the runner cluster's stopped tasks fails the state at once.

describe('stopped runner tasks (issue 10, finding 8)', () => {
  it('sends the runner cluster’s STOPPED task state changes to the task-stopped Lambda', () => {
    const { stack, template } = synth();
    const { taskStopped, cluster } = stack.pipeline;

    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change'],
        detail: {
          clusterArn: [{ 'Fn::GetAtt': [logicalId(cluster), 'Arn'] }],
          lastStatus: ['STOPPED'],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalId(taskStopped.handler.function), 'Arn'] },
          RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 8 }),
        }),
      ],
    });
  });

  it('lets the task-stopped Lambda fail task tokens and nothing else', () => {
    const { stack } = synth();
    const { taskStopped } = stack.pipeline;

    const fail = statement(taskStopped.handler.role, 'FailStoppedRunnerTasks');
    expect(actions(fail)).toEqual(['states:SendTaskFailure']);
    expect(resources(fail)).toEqual(['*']);
  });

  it('tells the Lambda which container is the runner', () => {
    const { stack, template } = synth();
    const { taskStopped } = stack.pipeline;

    const functions = template.findResources('AWS::Lambda::Function');
    const props = (
      functions[logicalId(taskStopped.handler.function)] as {
        Properties: { Environment: { Variables: Record<string, string> } };
      }
    ).Properties;
    expect(props.Environment.Variables.RUNNER_CONTAINER_NAME).toBe('runner');
  });
});
