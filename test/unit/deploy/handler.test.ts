import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  deployment,
  describeServices,
  describeTaskDefinition,
  makeConfig,
  newArn,
  rolloutInput,
  runningArn,
  runningTags,
  runningTaskDefinition,
  service,
} from './fixtures.ts';

const ecsMock = mockClient(ECSClient);

const context = {
  functionName: 'stepline-deploy',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:stepline-deploy',
  memoryLimitInMB: '256',
  functionVersion: '$LATEST',
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

afterEach(() => {
  ecsMock.reset();
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe('the Deploy and CheckDeployment Lambda handlers', () => {
  it('refuse to start without STEPLINE_CONFIG, naming the variable', async () => {
    vi.stubEnv('STEPLINE_CONFIG', '');

    await expect(import('#functions/deploy/handler.ts')).rejects.toThrow(
      /deploy function environment is invalid:\n {2}STEPLINE_CONFIG: /,
    );
    await expect(import('#functions/check-deployment/handler.ts')).rejects.toThrow(
      /check-deployment function environment is invalid:\n {2}STEPLINE_CONFIG: /,
    );
  });

  it('roll out through the ECS client with the configuration from the environment', async () => {
    vi.stubEnv('STEPLINE_CONFIG', JSON.stringify(makeConfig()));
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    ecsMock.on(DescribeServicesCommand).resolves(describeServices(service()));
    ecsMock
      .on(DescribeTaskDefinitionCommand)
      .resolves(describeTaskDefinition(runningTaskDefinition(), runningTags));
    ecsMock
      .on(RegisterTaskDefinitionCommand)
      .resolves({ taskDefinition: runningTaskDefinition({ taskDefinitionArn: newArn, revision: 42 }) });
    ecsMock.on(UpdateServiceCommand).resolves({
      service: service({
        deployments: [
          deployment({ id: 'ecs-svc/new', taskDefinition: newArn, rolloutState: 'IN_PROGRESS' }),
          deployment({ status: 'ACTIVE' }),
        ],
      }),
    });
    const { handler: deployHandler } = await import('#functions/deploy/handler.ts');
    const { handler: checkHandler } = await import('#functions/check-deployment/handler.ts');

    const state = await deployHandler(rolloutInput(), context);
    ecsMock.on(DescribeServicesCommand).resolves(
      describeServices(
        service({
          taskDefinition: newArn,
          deployments: [
            deployment({ id: 'ecs-svc/new', taskDefinition: newArn, rolloutState: 'IN_PROGRESS' }),
          ],
        }),
      ),
    );
    const checked = await checkHandler({ environment: 'staging', deployment: state }, context);

    expect(state).toMatchObject({ taskDefinitionArn: newArn, previousTaskDefinitionArn: runningArn });
    expect(checked).toMatchObject({ rolloutState: 'IN_PROGRESS', checks: 1 });
  });
});
