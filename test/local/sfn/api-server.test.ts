import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  InvalidExecutionInput,
  InvalidName,
  InvalidToken,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
  StopExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SfnApiServer, startSfnApiServer } from '#local/sfn/api-server.ts';
import { type LocalStepFunctions, newTaskToken } from '#local/sfn/engine.ts';
import { testCredentials } from '../../helpers/local-auth.ts';
import { createEngine, tokenMachine, tokenRecorder, tokenResource } from './helpers.ts';

let engine: LocalStepFunctions;
let runner: ReturnType<typeof tokenRecorder>;
let server: SfnApiServer;
let sfn: SFNClient;

beforeEach(async () => {
  runner = tokenRecorder();
  engine = createEngine(tokenMachine({ HeartbeatSeconds: 60 }), { [tokenResource]: runner.handler });
  server = await startSfnApiServer(engine, { credentials: testCredentials });
  sfn = new SFNClient({
    endpoint: server.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterEach(async () => {
  sfn.destroy();
  await server.close();
});

async function start(name: string, input = '{"value":1}') {
  return sfn.send(new StartExecutionCommand({ stateMachineArn: engine.stateMachineArn, name, input }));
}

describe('Step Functions JSON endpoint, with the real SDK', () => {
  it('listens on a loopback address', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('starts an execution and returns its ARN and start date', async () => {
    const started = await start('sdk-start');

    expect(started.executionArn).toBe(engine.executionArnOf('sdk-start'));
    expect(started.startDate).toBeInstanceOf(Date);
  });

  it('returns the same execution to a StartExecution repeated with the same name and input', async () => {
    const first = await start('sdk-repeat');
    const second = await start('sdk-repeat');

    expect(second.executionArn).toBe(first.executionArn);
    expect(second.startDate?.getTime()).toBe(first.startDate?.getTime());
  });

  it('raises ExecutionAlreadyExists for the same name with another input', async () => {
    await start('sdk-dup');

    await expect(start('sdk-dup', '{"value":2}')).rejects.toBeInstanceOf(ExecutionAlreadyExists);
  });

  it('raises InvalidName and InvalidExecutionInput for a bad name and bad input', async () => {
    await expect(start('has space')).rejects.toBeInstanceOf(InvalidName);
    await expect(start('ok-name', 'not json')).rejects.toBeInstanceOf(InvalidExecutionInput);
  });

  it('raises StateMachineDoesNotExist for a StartExecution on another state machine', async () => {
    const other = 'arn:aws:states:local:000000000000:stateMachine:someone-else';

    await expect(sfn.send(new StartExecutionCommand({ stateMachineArn: other }))).rejects.toBeInstanceOf(
      StateMachineDoesNotExist,
    );
  });

  it('completes a task with SendTaskHeartbeat then SendTaskSuccess and describes the result', async () => {
    const { executionArn } = await start('sdk-success');
    const { token } = await runner.next();

    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"exitCode":0}' }));
    await engine.waitForExecution(executionArn as string);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    expect(described).toMatchObject({
      executionArn,
      stateMachineArn: engine.stateMachineArn,
      name: 'sdk-success',
      status: 'SUCCEEDED',
      input: '{"value":1}',
      output: '{"exitCode":0}',
    });
    expect(described.stopDate).toBeInstanceOf(Date);
  });

  it('fails a task with SendTaskFailure and reports the error on the execution', async () => {
    const { executionArn } = await start('sdk-failure');
    const { token } = await runner.next();

    await sfn.send(
      new SendTaskFailureCommand({ taskToken: token, error: 'TestsFailedError', cause: '3 failed' }),
    );
    await engine.waitForExecution(executionArn as string);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    expect(described).toMatchObject({ status: 'FAILED', error: 'TestsFailedError', cause: '3 failed' });
  });

  it('raises TaskTimedOut for a used token, InvalidToken for a malformed one and TaskDoesNotExist for an unknown one', async () => {
    const { executionArn } = await start('sdk-tokens');
    const { token } = await runner.next();
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    await engine.waitForExecution(executionArn as string);

    await expect(
      sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
    ).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(sfn.send(new SendTaskHeartbeatCommand({ taskToken: 'bogus' }))).rejects.toBeInstanceOf(
      InvalidToken,
    );
    await expect(
      sfn.send(new SendTaskHeartbeatCommand({ taskToken: newTaskToken() })),
    ).rejects.toBeInstanceOf(TaskDoesNotExist);
  });

  it('stops an execution with StopExecution', async () => {
    const { executionArn } = await start('sdk-stop');
    await runner.next();

    const stopped = await sfn.send(
      new StopExecutionCommand({ executionArn, error: 'Cancelled', cause: 'by test' }),
    );
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));

    expect(stopped.stopDate).toBeInstanceOf(Date);
    expect(described).toMatchObject({ status: 'ABORTED', error: 'Cancelled', cause: 'by test' });
  });

  it('lists executions newest first with a status filter and pagination', async () => {
    await start('sdk-list-a');
    await start('sdk-list-b');

    const page = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: engine.stateMachineArn, maxResults: 1 }),
    );
    const rest = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: engine.stateMachineArn, nextToken: page.nextToken }),
    );
    const succeeded = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: engine.stateMachineArn, statusFilter: 'SUCCEEDED' }),
    );

    expect([...(page.executions ?? []), ...(rest.executions ?? [])].map((e) => e.name)).toEqual([
      'sdk-list-b',
      'sdk-list-a',
    ]);
    expect(page.executions?.[0]?.startDate).toBeInstanceOf(Date);
    expect(succeeded.executions).toEqual([]);
  });

  it('returns the execution history with typed event details and dates', async () => {
    const { executionArn } = await start('sdk-history');
    await sfn.send(new SendTaskSuccessCommand({ taskToken: (await runner.next()).token, output: '{}' }));
    await engine.waitForExecution(executionArn as string);

    const { events } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }));

    expect(events?.[0]?.type).toBe('ExecutionSucceeded');
    expect(events?.[0]?.timestamp).toBeInstanceOf(Date);
    expect(events?.find((e) => e.type === 'TaskStateEntered')?.stateEnteredEventDetails?.name).toBe('Work');
    expect(
      events?.find((e) => e.type === 'TaskScheduled')?.taskScheduledEventDetails?.heartbeatInSeconds,
    ).toBe(60);
  });

  it('raises ExecutionDoesNotExist when describing an unknown execution', async () => {
    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: engine.executionArnOf('nope') })),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
  });
});
