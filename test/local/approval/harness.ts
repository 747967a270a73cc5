import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { approvalApiRoutes } from '#local/approvals.ts';
import { type LocalLambdas, lambdaBundleDir, localLambdas } from '#local/lambdas.ts';
import { type LocalSecretsExtension, startLocalSecretsExtension } from '#local/secrets-extension.ts';
import { type LocalSes, type SentEmail, startLocalSes } from '#local/ses/server.ts';
import { startSfnApiServer } from '#local/sfn/api-server.ts';
import { LocalStepFunctions, type TaskHandler } from '#local/sfn/engine.ts';
import { localSubstitutions as s } from '#local/substitutions.ts';
import { startWebhookServer, type WebhookServer } from '#local/webhook-server.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import type { PushEvent } from '#shared/push-event.ts';
import { render } from '#state-machines/pipeline.ts';
import { createGitRepo, type GitRepo } from '../../helpers/git-repo.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';

const digest = `sha256:${'5e'.repeat(32)}`;
export const image = {
  repository: '127.0.0.1:5000/local/hello',
  digest,
  uri: `127.0.0.1:5000/local/hello@${digest}`,
  tags: ['main'],
  bytesPushed: 100,
  layers: 2,
};

function deployment(
  environment: 'staging' | 'production',
  commit: string,
  rolloutState: 'IN_PROGRESS' | 'COMPLETED',
) {
  return {
    environment,
    outcome: rolloutState === 'COMPLETED' ? 'Completed' : 'Deploying',
    cluster: 'local',
    service: `hello-${environment}`,
    container: 'app',
    commit,
    imageUri: image.uri,
    rolloutState,
    startedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + 900_000).toISOString(),
    url: `http://127.0.0.1:9/${environment}`,
    checks: 0,
  };
}

/**
 * The functions' bundles, built once per test file and shared by its harnesses: each harness's
 * `<data>/runtime/lambdas` links here (the bundles do not depend on the data directory).
 */
let sharedBundles: Promise<string> | undefined;
function bundleCache(): Promise<string> {
  sharedBundles ??= mkdtemp(join(tmpdir(), 'stepline-approval-bundles-')).then((dir) => {
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  });
  return sharedBundles;
}

export interface ApprovalHarness {
  engine: LocalStepFunctions;
  /** The runtime's Lambdas (bundles in workers): request-approval, the approval API, the webhook. */
  lambdas: LocalLambdas;
  ses: LocalSes;
  server: WebhookServer;
  s3: S3rverHandle;
  repo: GitRepo;
  dataDir: string;
  outboxDir: string;
  /** States whose fake tasks ran, in order. */
  ran: string[];
  /** Starts one execution of a push of the repository's HEAD. */
  start(name?: string): Promise<string>;
  nextEmail(): Promise<SentEmail>;
  /**
   * Stops the engine as `stepline serve` stopping would (its executions end FAILED with
   * Stepline.RuntimeStopped) and starts a new one on the same data directory, as the next `serve`
   * does; `engine` is the new one afterwards.
   */
  restartEngine(): Promise<LocalStepFunctions>;
  close(): Promise<void>;
}

/**
 * The local runtime's approval pieces around the real pipeline definition: the engine with fake
 * Build/Test/Publish/Deploy tasks, the request-approval, approval API and webhook Lambdas as the
 * runtime runs them (`localLambdas`: their bundles in workers) with local S3, the SES stand-in and
 * `git log`, the Step Functions endpoint, and the local server with the approval routes.
 */
export async function startApprovalHarness(
  options: { approvalTimeoutSeconds?: number; approvers?: string[] } = {},
): Promise<ApprovalHarness> {
  // The pieces log at INFO through Powertools; these tests read their outcomes, not their logs.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  const dataDir = await mkdtemp(join(tmpdir(), 'stepline-approval-'));
  const outboxDir = join(dataDir, 'outbox');
  const s3 = await startS3rver();
  // One key for every stand-in, as the runtime has one per data directory.
  const localCredentials = s3.credentials;
  const ses = await startLocalSes({ outboxDir, credentials: localCredentials });
  const repo = await createGitRepo();
  await repo.commit({ 'README.md': 'hello' }, 'First commit');
  const ran: string[] = [];
  const config = DeploymentConfig.parse({
    repositories: [
      {
        provider: 'github',
        name: 'local/*',
        webhookSecret: { value: 'secret' },
        approvers: options.approvers ?? ['alice@example.com', 'carol@example.com'],
        deploy: {
          staging: { cluster: 'local', service: 'hello-staging', container: 'app' },
          production: { cluster: 'local', service: 'hello-production', container: 'app' },
        },
      },
    ],
    emailFrom: 'stepline@localhost.example',
    notificationEmails: ['team@example.com'],
  });

  let engine!: LocalStepFunctions;
  let sfnEndpoint = '';
  let baseUrl = '';
  const extension: LocalSecretsExtension = await startLocalSecretsExtension({
    resolveSecret: async () => 'secret',
  });
  await mkdir(join(dataDir, 'runtime'), { recursive: true });
  await symlink(await bundleCache(), lambdaBundleDir(dataDir));
  const lambdas = await localLambdas({
    dataDir,
    config,
    bucket: s3.bucket,
    endpoints: {
      s3: s3.endpoint,
      sfn: () => sfnEndpoint,
      ses: () => ses.endpoint,
      // Nothing listens here: production's commit is unknown, as the email then says.
      ecs: 'http://127.0.0.1:9',
      approvalBaseUrl: () => baseUrl,
    },
    credentials: () => localCredentials,
    stateMachineArn: () => engine.stateMachineArn,
    secretsExtension: extension,
  });
  const runner: TaskHandler = async (input, ctx) => {
    const env = (
      input as { Overrides: { ContainerOverrides: { Environment: { Name: string; Value: string }[] }[] } }
    ).Overrides.ContainerOverrides[0]!.Environment;
    const stage = env.find((e) => e.Name === 'STEPLINE_STAGE')!.Value;
    ran.push(ctx.stateName);
    const result =
      stage === 'publish'
        ? { stage, image }
        : stage === 'test'
          ? {
              stage,
              tests: { total: 3, passed: 3, failed: 0, errors: 0, skipped: 0, reports: 1, failures: [] },
            }
          : { stage };
    setImmediate(() => engine.sendTaskSuccess(ctx.taskToken!, JSON.stringify(result)));
    return { taskArn: 'fake' };
  };
  const fake =
    (name: string, result: (input: Record<string, unknown>) => unknown): TaskHandler =>
    async (input) => {
      ran.push(name);
      return result(input as Record<string, unknown>);
    };
  const newEngine = () =>
    new LocalStepFunctions({
      dataDir,
      stateMachineName: 'stepline-pipeline',
      definition: render(s),
      tasks: {
        [s.ReportStatusFunctionArn]: fake('ReportStatus', () => ({ reported: true })),
        [s.FetchSourceFunctionArn]: fake('FetchSource', () => ({
          sourceKey: 'runs/x/source.tar.gz',
          configKey: 'runs/x/stepline.json',
          deployment: {
            imageRepository: 'local/hello',
            approvalTimeoutSeconds: options.approvalTimeoutSeconds ?? 3600,
            runnerTaskRoleArn: 'arn:aws:iam::000000000000:role/stepline-local-runner',
            publisherTaskRoleArn: 'arn:aws:iam::000000000000:role/stepline-local-publisher',
          },
        })),
        'arn:aws:states:::ecs:runTask.waitForTaskToken': runner,
        [s.DeployFunctionArn]: fake('Deploy', (input) => {
          const push = input.push as PushEvent;
          return deployment(input.environment as 'staging' | 'production', push.after, 'IN_PROGRESS');
        }),
        [s.CheckDeploymentFunctionArn]: fake('CheckDeployment', (input) => ({
          ...(input.deployment as object),
          outcome: 'Completed',
          rolloutState: 'COMPLETED',
        })),
        'arn:aws:states:::lambda:invoke.waitForTaskToken': lambdas.invokeWithToken,
        [s.RequestApprovalFunctionArn]: lambdas.notifyApprovalOutcome,
        // The lane in parallel mode: nothing waits, nothing is superseded.
        [s.LaneFunctionArn]: fake('Lane', (input) =>
          input.action === 'enter'
            ? { mode: 'parallel', wait: false, supersedes: [] }
            : { superseded: false },
        ),
      },
      overrides: { waitTimeOverrides: 0, retryIntervalOverrides: 0 },
    });
  engine = newEngine();
  let api = await startSfnApiServer(engine, { port: 0, credentials: localCredentials });
  sfnEndpoint = api.url;
  const server = await startWebhookServer({
    webhook: (event) => lambdas.webhook(event),
    routes: approvalApiRoutes((event) => lambdas.approvalApi(event)),
  });
  baseUrl = server.url;

  const harness: ApprovalHarness = {
    engine,
    lambdas,
    ses,
    server,
    s3,
    repo,
    dataDir,
    outboxDir,
    ran,
    async start(name = 'github-delivery-1') {
      const after = (await repo.git('rev-parse', 'HEAD')).trim();
      const commit = {
        id: after,
        message: 'First commit',
        author: { name: 'Stepline Test', email: 'test@stepline.invalid' },
        timestamp: new Date().toISOString(),
        url: '',
        added: ['README.md'],
        modified: [],
        removed: [],
      };
      const push: PushEvent = {
        provider: 'github',
        deliveryId: name,
        repository: { fullName: 'local/hello', cloneUrl: repo.dir, defaultBranch: 'main' },
        ref: 'refs/heads/main',
        refType: 'branch',
        refName: 'main',
        before: '0'.repeat(40),
        after,
        headCommit: commit,
        commits: [commit],
        pusher: { name: 'Pat Pusher', email: 'pat@example.com' },
      };
      const { executionArn } = await engine.startExecution({ name, input: JSON.stringify(push) });
      return executionArn;
    },
    nextEmail() {
      return new Promise((resolve) => {
        const off = ses.onEmail((email) => {
          off();
          resolve(email);
        });
      });
    },
    async restartEngine() {
      await api.close();
      await engine.close();
      engine = newEngine();
      harness.engine = engine;
      // On the same port: the warm workers read AWS_ENDPOINT_URL_SFN at their cold start.
      api = await startSfnApiServer(engine, {
        port: Number(new URL(api.url).port),
        credentials: localCredentials,
      });
      sfnEndpoint = api.url;
      return engine;
    },
    async close() {
      await server.close();
      await lambdas.close();
      await extension.close();
      await engine.close();
      await api.close();
      await ses.close();
      await s3.close();
      await repo.remove();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Resolves once `count` emails have been sent (counting from the call). */
export function emailsSent(ses: LocalSes, count: number): Promise<SentEmail[]> {
  const seen: SentEmail[] = [];
  return new Promise((resolve) => {
    const off = ses.onEmail((email) => {
      seen.push(email);
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}
