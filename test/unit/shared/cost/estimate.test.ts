import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readHistory } from '#local/sfn/store.ts';
import { estimateExecutionCost } from '#shared/cost/estimate.ts';
import { describeCost } from '#shared/cost/format.ts';
import { estimateLabel, formatUsd, priceTable } from '#shared/cost/prices.ts';

/** A real `npx stepline run examples/hello-service --auto-approve`, state inputs and outputs removed. */
const fixtureDir = join(import.meta.dirname, '../../../fixtures/hello-service-run');
const fixtureName = 'github-bdbd6b01-3bc0-4fac-8a01-9be10cc033ee';
const recorded = () => readHistory(fixtureDir, fixtureName);

const at = (seconds: number) => new Date(Date.UTC(2026, 10, 30, 12, 0, 0) + seconds * 1000);

describe('estimateExecutionCost', () => {
  it('recomputes the recorded hello-service run as a person would by hand', () => {
    const cost = estimateExecutionCost(recorded());

    // 20 states on the straight path + one more staging poll (Wait, Check, Choice) = 23, no retries.
    expect(cost.stateTransitions).toMatchObject({ count: 23, retries: 0 });
    expect(cost.stateTransitions.usd).toBeCloseTo((23 * 0.025) / 1000, 12);

    // Lambda, timed Started -> Succeeded (RequestApproval: TaskStarted -> TaskSubmitted), arm64:
    // report-status 22 + 9 ms at 256 MB, fetch-source 131 ms at 512 MB, deploy 59 + 21 ms,
    // check-deployment 4 + 13 + 9 ms, request-approval 75 ms, all 256 MB.
    const byFunction = Object.fromEntries(cost.lambda.functions.map((fn) => [fn.function, fn]));
    expect(byFunction['report-status']).toMatchObject({ invocations: 2, durationMs: 31, memoryMb: 256 });
    expect(byFunction['fetch-source']).toMatchObject({ invocations: 1, durationMs: 131, memoryMb: 512 });
    expect(byFunction.deploy).toMatchObject({ invocations: 2, durationMs: 80 });
    expect(byFunction['check-deployment']).toMatchObject({ invocations: 3, durationMs: 26 });
    expect(byFunction['request-approval']).toMatchObject({ invocations: 1, durationMs: 75 });
    const gbSeconds = 0.25 * 0.031 + 0.5 * 0.131 + 0.25 * 0.08 + 0.25 * 0.026 + 0.25 * 0.075; // 0.1185
    expect(cost.lambda.requests).toBe(9);
    expect(cost.lambda.gbSeconds).toBeCloseTo(gbSeconds, 9);
    expect(cost.lambda.usd).toBeCloseTo(9 * 0.0000002 + gbSeconds * 0.0000133334, 12);

    // Fargate arm64, TaskSubmitted -> TaskSucceeded: Build 1,173 ms, Test 884 ms, PublishImage
    // 464 ms; each billed the one-minute minimum. Runner 1 vCPU / 2 GB / 30 GB (10 GB billed),
    // publisher 2 vCPU / 4 GB / 50 GB (30 GB billed), sizes from the RunTask responses.
    expect(
      cost.fargate.tasks.map((t) => [t.state, t.durationMs, t.billedSeconds, t.cpu, t.memoryMiB]),
    ).toEqual([
      ['Build', 1173, 60, 1024, 2048],
      ['Test', 884, 60, 1024, 2048],
      ['PublishImage', 464, 60, 2048, 4096],
    ]);
    expect(cost.fargate.vcpuSeconds).toBe(60 + 60 + 120);
    expect(cost.fargate.gbSeconds).toBe(120 + 120 + 240);
    const fargateUsd =
      (240 / 3600) * 0.03238 + (480 / 3600) * 0.00356 + ((10 * 120 + 30 * 60) / 3600) * 0.000111;
    expect(cost.fargate.usd).toBeCloseTo(fargateUsd, 12);

    // S3, per stage: FetchSource 2 PUT; Build 2 GET + log PUT, cache missed (2 GET) and saved
    // (HEAD + PUT), artifacts PUT; Test and PublishImage 2 GET + artifacts GET + log PUT each;
    // the approval record PUT, then page and decision 2 GET + 1 PUT.
    expect(cost.s3).toMatchObject({ putRequests: 9, getRequests: 13 });
    expect(cost.s3.usd).toBeCloseTo(9 * 0.000005 + 13 * 0.0000004, 12);

    const total = 0.000575 + (0.0000018 + 0.1185 * 0.0000133334) + fargateUsd + 0.0000502;
    expect(cost.totalUsd).toBeCloseTo(total, 12);
    expect(formatUsd(cost.totalUsd)).toBe('$0.0034');
  });

  it('labels the figure as an estimate with the price table region and date', () => {
    const cost = estimateExecutionCost(recorded());

    expect(cost).toMatchObject({
      estimate: true,
      region: 'us-east-1',
      pricesAsOf: priceTable.asOf,
      currency: 'USD',
    });
    expect(cost.label).toBe(`estimate at us-east-1 list prices of ${priceTable.asOf}`);
    expect(estimateLabel()).toBe(cost.label);
  });

  it('bills each retry as one more state transition and one more Lambda request', () => {
    const lambda = 'arn:aws:lambda:us-east-1:1:function:Stack-PipelineDeploy1A2B-x';
    const history = [
      { type: 'TaskStateEntered', timestamp: at(0), stateEnteredEventDetails: { name: 'DeployProduction' } },
      {
        type: 'LambdaFunctionScheduled',
        timestamp: at(0),
        lambdaFunctionScheduledEventDetails: { resource: lambda },
      },
      { type: 'LambdaFunctionStarted', timestamp: at(0) },
      {
        type: 'LambdaFunctionFailed',
        timestamp: at(1),
        lambdaFunctionFailedEventDetails: { error: 'DeploymentInProgressError' },
      },
      {
        type: 'LambdaFunctionScheduled',
        timestamp: at(31),
        lambdaFunctionScheduledEventDetails: { resource: lambda },
      },
      { type: 'LambdaFunctionStarted', timestamp: at(31) },
      { type: 'LambdaFunctionSucceeded', timestamp: at(33) },
      { type: 'TaskStateExited', timestamp: at(33), stateExitedEventDetails: { name: 'DeployProduction' } },
    ] as const;

    const cost = estimateExecutionCost(history);

    expect(cost.stateTransitions).toMatchObject({ count: 2, retries: 1 });
    expect(cost.lambda.functions).toEqual([
      { function: 'deploy', invocations: 2, durationMs: 3000, memoryMb: 256, gbSeconds: 0.75 },
    ]);
  });

  it('prices a task still running when the history ends up to its last event, with the catalog size', () => {
    const history = [
      { type: 'TaskStateEntered', timestamp: at(0), stateEnteredEventDetails: { name: 'PublishImage' } },
      {
        type: 'TaskScheduled',
        timestamp: at(0),
        taskScheduledEventDetails: {
          resourceType: 'ecs',
          resource: 'runTask.waitForTaskToken',
          parameters: JSON.stringify({
            TaskDefinition: 'arn:aws:ecs:us-east-1:1:task-definition/stack-publisher',
          }),
        },
      },
      { type: 'TaskSubmitted', timestamp: at(2), taskSubmittedEventDetails: { output: '{}' } },
      { type: 'ExecutionAborted', timestamp: at(302) },
    ] as const;

    const [task] = estimateExecutionCost(history).fargate.tasks;

    expect(task).toMatchObject({
      state: 'PublishImage',
      durationMs: 300_000,
      billedSeconds: 300,
      cpu: 2048,
      memoryMiB: 4096,
    });
  });

  it('reads the task size from an AWS RunTask response, whose fields Step Functions capitalizes', () => {
    const history = [
      { type: 'TaskStateEntered', timestamp: at(0), stateEnteredEventDetails: { name: 'Build' } },
      {
        type: 'TaskScheduled',
        timestamp: at(0),
        taskScheduledEventDetails: {
          resourceType: 'ecs',
          resource: 'runTask.waitForTaskToken',
          parameters: JSON.stringify({ TaskDefinition: 'stack-runner' }),
        },
      },
      {
        type: 'TaskSubmitted',
        timestamp: at(1),
        taskSubmittedEventDetails: { output: JSON.stringify({ Tasks: [{ Cpu: '4096', Memory: '8192' }] }) },
      },
      {
        type: 'TaskSucceeded',
        timestamp: at(121),
        taskSucceededEventDetails: { output: '{"stage":"build"}' },
      },
    ] as const;

    const [task] = estimateExecutionCost(history).fargate.tasks;

    expect(task).toMatchObject({
      billedSeconds: 120,
      cpu: 4096,
      memoryMiB: 8192,
      vcpuSeconds: 480,
      gbSeconds: 960,
    });
  });

  it('costs nothing for an empty history', () => {
    expect(estimateExecutionCost([]).totalUsd).toBe(0);
  });
});

describe('formatUsd', () => {
  it('shows cents for dollars and two significant digits for fractions of a cent', () => {
    expect(formatUsd(12.345)).toBe('$12.35');
    expect(formatUsd(0.01823)).toBe('$0.0182');
    expect(formatUsd(0.0000312)).toBe('$0.000031');
    expect(formatUsd(0)).toBe('$0');
  });
});

describe('describeCost', () => {
  it('says what the recorded run used and what it cost, labelled as an estimate', () => {
    expect(describeCost(estimateExecutionCost(recorded()))).toBe(
      `$0.0034 (estimate at us-east-1 list prices of ${priceTable.asOf}): 23 state transitions, Lambda 9 requests 0.12 GB-s, Fargate 240 vCPU-s 480 GB-s, S3 9 PUT 13 GET`,
    );
  });
});
