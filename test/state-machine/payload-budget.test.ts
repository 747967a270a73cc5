import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DecisionForm } from '#functions/approval-api/approval-api.ts';
import { type Entered, maxNamed } from '#functions/lane/lane.ts';
import { fitStageResult } from '#functions/runner/result-budget.ts';
import { failureCause } from '#functions/runner/run-stage.ts';
import type { StageResult } from '#functions/runner/stage-result.ts';
import { fitExecutionInput, MAX_INPUT_BYTES } from '#functions/webhook/execution.ts';
import { LocalStepFunctions, type TaskHandler } from '#local/sfn/engine.ts';
import { localSubstitutions } from '#local/substitutions.ts';
import type { DeploymentState } from '#shared/deployment.ts';
import {
  ApprovalRejectedError,
  DeploymentFailedError,
  ImagePublishFailedError,
  type PipelineError,
  StatusReportError,
} from '#shared/errors.ts';
import { jsonBytes, maxPayloadBytes, payloadBudget } from '#shared/payload-budget.ts';
import type { PublishedImage } from '#shared/published-image.ts';
import type { PushCommit, PushEvent } from '#shared/push-event.ts';
import { render } from '#state-machines/pipeline.ts';

// The worst case the budget has to hold: every part of the execution state at the largest size the
// code lets it reach, on the real ASL, with the local engine enforcing Step Functions' 256 KiB.

const s = localSubstitutions;
const ecsRunTask = 'arn:aws:states:::ecs:runTask.waitForTaskToken';
const lambdaWithToken = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** Text that JSON escapes the most: every character takes 2 to 6 bytes once escaped. */
const nasty = (chars: number) => '"\\\u0001é😀'.repeat(Math.ceil(chars / 6)).slice(0, chars);
const hex = (n: number) => 'f'.repeat(n);

/** The largest push the webhook lets through: just under MAX_INPUT_BYTES, left as is by fitExecutionInput. */
function largestPush(): PushEvent {
  const commit = (i: number, message: string): PushCommit => ({
    id: `${i.toString(16).padStart(8, '0')}${hex(32)}`,
    message,
    author: { name: `Author ${i}`, email: `author${i}@example.com` },
    timestamp: '2026-11-30T05:00:00+01:00',
    url: `https://github.com/acme/hello/commit/${hex(40)}`,
    added: Array.from({ length: 10 }, (_, f) => `src/module-${i}/file-${f}.ts`),
    modified: [],
    removed: [],
  });
  const build = (chars: number): PushEvent => {
    const commits = Array.from({ length: 50 }, (_, i) => commit(i, nasty(chars)));
    return {
      provider: 'github',
      deliveryId: 'd'.repeat(36),
      repository: {
        fullName: 'acme/hello',
        cloneUrl: 'https://github.com/acme/hello.git',
        defaultBranch: 'main',
        htmlUrl: 'https://github.com/acme/hello',
      },
      ref: 'refs/heads/main',
      refType: 'branch',
      refName: 'main',
      before: hex(40),
      after: commits.at(-1)!.id,
      headCommit: commits.at(-1)!,
      commits,
      pusher: { name: 'ada', email: 'ada@example.com' },
    };
  };
  let low = 0;
  let high = 4096;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (jsonBytes(build(mid)) <= MAX_INPUT_BYTES) low = mid;
    else high = mid - 1;
  }
  return build(low);
}

/** A Lambda error as Step Functions sees it on AWS: `Cause` is the JSON of the runtime's error payload. */
function lambdaFailure(error: PipelineError): Error {
  const cause = JSON.stringify({
    errorType: error.name,
    errorMessage: error.message,
    trace: (error.stack ?? '').split('\n'),
  });
  return Object.assign(new Error(cause), { name: error.name });
}

function largestStageResult(stage: StageResult['stage']): StageResult {
  const result: StageResult = {
    stage,
    commit: hex(40),
    durationMs: 123_456,
    commandsMs: 100_000,
    commands: Array.from({ length: 200 }, (_, i) => ({ command: nasty(5000), exitCode: i, durationMs: 1 })),
    logKey: `runs/github/${'a'.repeat(200)}/${'r'.repeat(80)}/logs/${stage}.log`,
    cache: {
      key: hex(64),
      scope: `branch/${'b'.repeat(255)}`,
      restored: true,
      restoredFrom: `branch/${'m'.repeat(255)}`,
      saved: false,
    },
  };
  if (stage === 'build')
    result.artifacts = { key: `runs/${'a'.repeat(300)}/artifacts/build.tar.gz`, files: 9, bytes: 9 };
  if (stage === 'test')
    result.tests = {
      total: 10_000,
      passed: 0,
      failed: 10_000,
      errors: 0,
      skipped: 0,
      reports: 50,
      failures: Array.from({ length: 10 }, () => ({
        suite: nasty(2000),
        name: nasty(2000),
        kind: 'failure' as const,
        message: nasty(500),
      })),
      note: 'n'.repeat(300),
    };
  if (stage === 'publish') result.image = largestImage;
  return result;
}

const repository = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${'r'.repeat(200)}`;
const largestImage: PublishedImage = {
  repository,
  digest: `sha256:${hex(64)}`,
  uri: `${repository}@sha256:${hex(64)}`,
  tags: [hex(40), `branch-${'b'.repeat(120)}`],
  bytesPushed: 2 ** 40,
  layers: 127,
  blobsSkipped: 126,
  platform: 'linux/arm64/v8',
  mode: 'dockerfile',
};

function largestDeployment(environment: 'staging' | 'production', outcome: DeploymentState['outcome']) {
  const arn = `arn:aws:ecs:eu-west-1:123456789012:task-definition/${'f'.repeat(255)}:123456`;
  return {
    environment,
    outcome,
    cluster: 'c'.repeat(255),
    service: 's'.repeat(255),
    container: 'k'.repeat(255),
    commit: hex(40),
    imageUri: largestImage.uri,
    taskDefinitionArn: arn,
    previousTaskDefinitionArn: arn,
    previousCommit: hex(40),
    deploymentId: `ecs-svc/${'9'.repeat(19)}`,
    rolloutState: outcome === 'Completed' ? 'COMPLETED' : 'IN_PROGRESS',
    startedAt: '2026-11-30T05:00:00.000Z',
    deadline: '2026-11-30T05:15:00.000Z',
    url: `https://${'u'.repeat(240)}.example.com/${'p'.repeat(500)}`,
    checks: 60,
  } satisfies DeploymentState;
}

const approver = `${'a'.repeat(300)}@example.com`;
const comment = DecisionForm.shape.comment.parse('\u0001'.repeat(2000)) as string;

interface Scenario {
  /** Where it fails: the ASL decides the rest. */
  failAt: 'CheckProduction' | 'RequestApproval' | 'PublishImage' | 'nowhere';
}

const engines: LocalStepFunctions[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function runWorstCase({ failAt }: Scenario) {
  const dataDir = mkdtempSync(join(tmpdir(), 'stepline-budget-'));
  dirs.push(dataDir);
  const push = largestPush();
  let engine!: LocalStepFunctions;
  const statusFails: TaskHandler = async (input) => {
    throw lambdaFailure(
      new StatusReportError(
        `POST for ${(input as { status: string }).status} answered 500: ${nasty(50_000)}`,
      ),
    );
  };
  const runner: TaskHandler = async (input, ctx) => {
    const env = (
      input as { Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } }
    ).Overrides.ContainerOverrides[0]!.Environment;
    const stage = env.find((e) => e.Name === 'STEPLINE_STAGE')!.Value as StageResult['stage'];
    setImmediate(() => {
      if (stage === 'publish' && failAt === 'PublishImage') {
        const error = new ImagePublishFailedError(`registry refused: ${nasty(100_000)}`);
        engine.sendTaskFailure(ctx.taskToken!, error.name, failureCause(error, nasty(1_000_000)));
      } else {
        engine.sendTaskSuccess(ctx.taskToken!, JSON.stringify(fitStageResult(largestStageResult(stage))));
      }
    });
    return { taskArn: `arn:aws:ecs:eu-west-1:123456789012:task/${'c'.repeat(255)}/${hex(32)}` };
  };
  const approval: TaskHandler = async (_input, ctx) => {
    setImmediate(() => {
      if (failAt === 'RequestApproval') {
        // As the approval API sends it: the comment whole (cut to its own budget), not an error message.
        engine.sendTaskFailure(
          ctx.taskToken!,
          new ApprovalRejectedError('').name,
          `Rejected by ${approver}: ${comment}`,
        );
      } else {
        engine.sendTaskSuccess(
          ctx.taskToken!,
          JSON.stringify({ decision: 'approve', approver, comment, decidedAt: '2026-11-30T06:00:00.000Z' }),
        );
      }
    });
    return { StatusCode: 200 };
  };
  engine = new LocalStepFunctions({
    dataDir,
    stateMachineName: 'stepline-pipeline',
    definition: render(s),
    tasks: {
      [s.ReportStatusFunctionArn]: statusFails,
      [s.FetchSourceFunctionArn]: async () => ({
        bucket: 'b'.repeat(63),
        sourceKey: `runs/github/${'a'.repeat(200)}/${'r'.repeat(80)}/source.tar.gz`,
        configKey: `runs/github/${'a'.repeat(200)}/${'r'.repeat(80)}/stepline.json`,
        commit: hex(40),
        configBytes: 32 * 1024,
        sizeBytes: 500 * 1024 * 1024,
        files: 1_000_000,
        deployment: {
          imageRepository: 'i'.repeat(256),
          approvalTimeoutSeconds: 604_800,
          runnerTaskRoleArn: `arn:aws:iam::123456789012:role/${'x'.repeat(64)}`,
          publisherTaskRoleArn: `arn:aws:iam::123456789012:role/${'y'.repeat(64)}`,
        },
      }),
      [s.DeployFunctionArn]: async (input) =>
        largestDeployment((input as { environment: 'staging' | 'production' }).environment, 'Deploying'),
      [s.CheckDeploymentFunctionArn]: async (input) => {
        const { environment } = input as { environment: 'staging' | 'production' };
        if (environment === 'production' && failAt === 'CheckProduction')
          throw lambdaFailure(new DeploymentFailedError(`rolled back: ${nasty(100_000)}`));
        return largestDeployment(environment, 'Completed');
      },
      [s.RequestApprovalFunctionArn]: async () => {
        throw lambdaFailure(new StatusReportError(`notice refused: ${nasty(100_000)}`));
      },
      [s.LaneFunctionArn]: async (input) => largestLaneResult((input as { action: string }).action),
      [lambdaWithToken]: approval,
      [ecsRunTask]: runner,
    },
    overrides: { waitTimeOverrides: 0, retryIntervalOverrides: 0 },
  });
  engines.push(engine);
  const { executionArn } = await engine.startExecution({
    name: 'x'.repeat(80),
    input: fitExecutionInput(push).json,
  });
  const description = await engine.waitForExecution(executionArn);

  const sizes: { where: string; bytes: number }[] = [];
  let nextToken: string | undefined;
  let last = '';
  do {
    const page = engine.getExecutionHistory(executionArn, { maxResults: 1000, nextToken });
    for (const event of page.events) {
      const record = event as unknown as Record<string, unknown>;
      if (event.type.endsWith('StateEntered'))
        last = (record.stateEnteredEventDetails as { name: string }).name;
      for (const [key, details] of Object.entries(record)) {
        if (!key.endsWith('EventDetails') || !details || typeof details !== 'object') continue;
        for (const field of ['input', 'output', 'parameters'] as const) {
          const text = (details as Record<string, unknown>)[field];
          if (typeof text === 'string')
            sizes.push({ where: `${last} ${event.type}.${field}`, bytes: Buffer.byteLength(text) });
        }
      }
    }
    nextToken = page.nextToken;
  } while (nextToken);
  const largest = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const output = description.status === 'SUCCEEDED' ? (JSON.parse(description.output!) as object) : undefined;
  if (process.env.STEPLINE_PRINT_BUDGET)
    console.info(`${failAt}: largest ${largest.bytes} bytes at ${largest.where}; push ${jsonBytes(push)}`);
  return { description, largest, sizes, push, output };
}

/** The largest `$.lane` each lane action leaves (a run superseded by a newer one, names at their longest). */
function largestLaneResult(action: string) {
  const newer = {
    execution: 'n'.repeat(80),
    executionArn: `arn:aws:states:eu-west-1:123456789012:execution:${'m'.repeat(80)}:${'n'.repeat(80)}`,
    commit: hex(40),
  };
  if (action === 'enter')
    return {
      mode: 'superseded',
      wait: false,
      supersedes: Array.from({ length: maxNamed }, (_, i) => `${i}`.repeat(80)),
    } satisfies Entered;
  if (action === 'check') return { superseded: false, supersededBy: newer };
  return { left: true, woke: newer.execution };
}

describe('the execution state under the worst case', () => {
  it('keeps each part within its budget where the part is made', () => {
    const push = largestPush();

    expect(fitExecutionInput(push).json).toBe(JSON.stringify(push));
    expect(jsonBytes(push)).toBeGreaterThan(MAX_INPUT_BYTES - 1024);
    expect(MAX_INPUT_BYTES).toBeLessThanOrEqual(payloadBudget.push);
    expect(jsonBytes(fitStageResult(largestStageResult('build')))).toBeLessThanOrEqual(payloadBudget.build);
    expect(jsonBytes(fitStageResult(largestStageResult('test')))).toBeLessThanOrEqual(payloadBudget.test);
    expect(jsonBytes(fitStageResult(largestStageResult('publish')))).toBeLessThanOrEqual(
      payloadBudget.publish,
    );
    expect(jsonBytes(largestDeployment('production', 'Completed'))).toBeLessThanOrEqual(
      payloadBudget.deployment,
    );
    expect(
      jsonBytes({ decision: 'approve', approver, comment, decidedAt: '2026-11-30T06:00:00.000Z' }),
    ).toBeLessThanOrEqual(payloadBudget.approval);
    const runnerFailure = {
      Error: 'ImagePublishFailedError',
      Cause: failureCause(new ImagePublishFailedError(nasty(100_000)), nasty(1_000_000)),
    };
    expect(jsonBytes(runnerFailure)).toBeLessThanOrEqual(payloadBudget.caughtError);
    const rejection = { Error: 'ApprovalRejectedError', Cause: `Rejected by ${approver}: ${comment}` };
    expect(jsonBytes(rejection)).toBeLessThanOrEqual(payloadBudget.caughtError);
    const lambda = lambdaFailure(new DeploymentFailedError(nasty(100_000)));
    expect(jsonBytes({ Error: lambda.name, Cause: lambda.message })).toBeLessThanOrEqual(
      payloadBudget.caughtError,
    );
    expect(jsonBytes(largestLaneResult('enter'))).toBeLessThanOrEqual(payloadBudget.lane);
    expect(jsonBytes(largestLaneResult('check'))).toBeLessThanOrEqual(payloadBudget.lane);
    const budgets = Object.entries(payloadBudget).reduce(
      (sum, [part, bytes]) => sum + bytes * (part === 'deployment' ? 2 : part === 'caughtError' ? 4 : 1),
      0,
    );
    expect(budgets).toBeLessThan(maxPayloadBytes);
  });

  it('reports a rollout that fails in production with every part at its largest, pending and final statuses refused', async () => {
    const { description, largest, output } = await runWorstCase({ failAt: 'CheckProduction' });

    expect(description).toMatchObject({ status: 'FAILED', error: 'DeploymentFailedError' });
    expect(output).toBeUndefined();
    expect(largest.bytes).toBeLessThan(maxPayloadBytes);
  });

  it('reports a rejected approval with the longest comment, the notice and the final status refused', async () => {
    const { description, largest } = await runWorstCase({ failAt: 'RequestApproval' });

    expect(description).toMatchObject({ status: 'FAILED', error: 'ApprovalRejectedError' });
    expect(largest.bytes).toBeLessThan(maxPayloadBytes);
  });

  it('reports a runner failure whose cause carries the longest message and log tail', async () => {
    const { description, largest } = await runWorstCase({ failAt: 'PublishImage' });

    expect(description).toMatchObject({ status: 'FAILED', error: 'ImagePublishFailedError' });
    expect(largest.bytes).toBeLessThan(maxPayloadBytes);
  });

  it('succeeds with every part at its largest and the final status refused', async () => {
    const { description, largest, output } = await runWorstCase({ failAt: 'nowhere' });

    expect(description.status).toBe('SUCCEEDED');
    expect(output).toMatchObject({ reportPending: { Error: 'StatusReportError' } });
    expect(largest.bytes).toBeLessThan(maxPayloadBytes);
  });
});
