import { describe, expect, it } from 'vitest';
import { describeRunnerExit, reportStoppedTask } from '#functions/task-stopped/task-stopped.ts';
import { jsonStringBytes, maxCauseJsonBytes } from '#shared/payload-budget.ts';

const token = 'AQCEAAAAKgAAAAMAAAAAAAAAA-secret-task-token';
const taskArn = 'arn:aws:ecs:eu-west-1:123456789012:task/stepline-runner/0f1e2d3c4b5a69788796a5b4c3d2e1f0';

/** An "ECS Task State Change" event as EventBridge delivers it for a stopped runner task. */
function stoppedEvent(detail: Record<string, unknown> = {}, container: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: 'e1',
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '123456789012',
    region: 'eu-west-1',
    detail: {
      taskArn,
      clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/stepline-runner',
      lastStatus: 'STOPPED',
      desiredStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      overrides: {
        containerOverrides: [
          {
            name: 'runner',
            environment: [
              { name: 'STEPLINE_TASK_TOKEN', value: token },
              { name: 'STEPLINE_STAGE', value: 'test' },
              { name: 'STEPLINE_RUN', value: 'github-d-1' },
            ],
          },
        ],
      },
      containers: [{ name: 'runner', lastStatus: 'STOPPED', ...container }],
      ...detail,
    },
  };
}

function fakes(onSend?: (command: { constructor: { name: string }; input: unknown }) => void) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const logs: unknown[] = [];
  const sfn = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      sent.push({ name: command.constructor.name, input: command.input });
      onSend?.(command);
      return {};
    },
  };
  const logger = {
    info: (...args: unknown[]) => logs.push(args),
    warn: (...args: unknown[]) => logs.push(args),
  };
  return { deps: { sfn: sfn as never, logger, containerName: 'runner' }, sent, logs };
}

describe('reportStoppedTask', () => {
  it('fails the waiting state with the out-of-memory reason ECS gives, not a bare heartbeat timeout', async () => {
    const { deps, sent } = fakes();

    const outcome = await reportStoppedTask(
      stoppedEvent({}, { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage' }),
      deps,
    );

    expect(outcome.outcome).toBe('reported');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      name: 'SendTaskFailureCommand',
      input: { taskToken: token, error: 'RunnerExitedError' },
    });
    const cause = String(sent[0]?.input.cause);
    expect(cause).toContain('the test runner task stopped before reporting a result');
    expect(cause).toContain('OutOfMemoryError: Container killed due to memory usage');
    expect(cause).toContain('exit code 137 (SIGKILL)');
    expect(cause).toContain('runnerMemoryMiB');
  });

  it('fails the waiting state when the task never started, with the pull error', async () => {
    const { deps, sent } = fakes();

    await reportStoppedTask(
      stoppedEvent({
        stopCode: 'TaskFailedToStart',
        stoppedReason:
          'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref',
      }),
      deps,
    );

    const cause = String(sent[0]?.input.cause);
    expect(cause).toContain('CannotPullContainerError');
    expect(cause).toContain('no exit code');
    expect(cause).toContain('never started');
  });

  it('leaves alone a runner that exited 0, having reported its result itself', async () => {
    const { deps, sent } = fakes();

    const outcome = await reportStoppedTask(stoppedEvent({}, { exitCode: 0 }), deps);

    expect(outcome.outcome).toBe('ignored');
    expect(sent).toEqual([]);
  });

  it('ignores tasks that carry no task token and tasks that have not stopped', async () => {
    const { deps, sent } = fakes();

    const notRunner = await reportStoppedTask(stoppedEvent({ overrides: { containerOverrides: [] } }), deps);
    const running = await reportStoppedTask(stoppedEvent({ lastStatus: 'RUNNING' }), deps);

    expect([notRunner.outcome, running.outcome]).toEqual(['ignored', 'ignored']);
    expect(sent).toEqual([]);
  });

  it('takes Step Functions refusing the token as the state having closed already', async () => {
    const { deps } = fakes(() => {
      throw Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' });
    });

    const outcome = await reportStoppedTask(stoppedEvent({}, { exitCode: 1 }), deps);

    expect(outcome.outcome).toBe('already-closed');
  });

  it('never logs the task token and keeps the cause in its budget', async () => {
    const { deps, sent, logs } = fakes();

    await reportStoppedTask(stoppedEvent({ stoppedReason: 'x"'.repeat(50_000) }, { exitCode: 2 }), deps);

    expect(JSON.stringify(logs)).not.toContain(token);
    expect(jsonStringBytes(String(sent[0]?.input.cause))).toBeLessThanOrEqual(maxCauseJsonBytes);
  });

  it('refuses an event that is not an ECS task state change', async () => {
    const { deps } = fakes();

    await expect(reportStoppedTask({ source: 'aws.s3' }, deps)).rejects.toMatchObject({
      name: 'TaskInputError',
    });
  });
});

describe('describeRunnerExit', () => {
  it('says a runner process killed by SIGKILL was killed, and that out of memory is the usual reason', () => {
    const cause = describeRunnerExit(
      'Build',
      { code: null, signal: 'SIGKILL' },
      '/data/task-logs/x/Build.log',
    );

    expect(cause).toBe(
      'the runner process for Build was killed by SIGKILL (the out-of-memory killer sends it, as does a stop past its grace period) before reporting a result; see /data/task-logs/x/Build.log',
    );
  });

  it('gives the exit code of a runner that exited on its own', () => {
    expect(describeRunnerExit('Test', { code: 3, signal: null }, 'log')).toContain('exited with code 3');
  });
});
