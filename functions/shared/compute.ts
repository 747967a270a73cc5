/**
 * The compute settings of Stepline, in one place for the CDK stack (infra/) and the local runtime
 * (local/): each Lambda's entry, handler export, memory and timeout, the esbuild options its bundle
 * is built with, and the Fargate task sizes of the runner and the publisher. Nothing here imports
 * the CDK, so the local runtime and the cost model read it without loading aws-cdk-lib.
 */

/** One Lambda of the pipeline as the stack deploys it and the local runtime runs it. */
export interface LambdaCompute {
  /** Folder under `functions/`; the function is named `stepline-<folder>` locally. */
  readonly folder: string;
  /** The bundled file, relative to the repository root. */
  readonly entry: string;
  /** The export of {@link entry} Lambda calls. */
  readonly handler: string;
  /** Memory in MB (Lambda's `MemorySize`; CPU grows with it). */
  readonly memorySize: number;
  /** Seconds an invocation may run before Lambda stops it (Lambda's `Timeout`). */
  readonly timeoutSeconds: number;
}

function lambda(folder: string, settings: { memorySize?: number; timeoutSeconds: number }): LambdaCompute {
  return {
    folder,
    entry: `functions/${folder}/handler.ts`,
    handler: 'handler',
    memorySize: settings.memorySize ?? 256,
    timeoutSeconds: settings.timeoutSeconds,
  };
}

/** Every Lambda of the stack, by the key the stack's `functions` use. */
export const lambdaCompute = {
  /** API Gateway waits at most 30 s; a delivery is verified and started in well under 10. */
  webhook: lambda('webhook', { timeoutSeconds: 10 }),
  /** Downloads and stores a whole source archive (up to MAX_SOURCE_MIB): more memory, more time. */
  fetchSource: lambda('fetch-source', { memorySize: 512, timeoutSeconds: 240 }),
  reportStatus: lambda('report-status', { timeoutSeconds: 30 }),
  deploy: lambda('deploy', { timeoutSeconds: 60 }),
  /** A smoke request waits up to its own timeout after the rollout completed. */
  checkDeployment: lambda('check-deployment', { timeoutSeconds: 60 }),
  /** One SES call per approver, plus the provider's commit list; under NotifyApprovalOutcome's 60 s. */
  requestApproval: lambda('request-approval', { timeoutSeconds: 50 }),
  /** Behind API Gateway: one page or one decision. */
  approvalApi: lambda('approval-api', { timeoutSeconds: 10 }),
  /** EventBridge target: one SendTaskFailure. */
  taskStopped: lambda('task-stopped', { timeoutSeconds: 30 }),
  /** Execution-mode lanes: a few conditional DynamoDB writes, at most one SendTaskSuccess; under its states' 60 s. */
  lane: lambda('lane', { timeoutSeconds: 30 }),
} as const satisfies Record<string, LambdaCompute>;

export type LambdaKey = keyof typeof lambdaCompute;

/**
 * esbuild options every Lambda is bundled with (the stack's NodejsFunction bundling, and the local
 * runtime's build of the same bundles), for Node 22 on Lambda. Why each: infra/pipeline-function.ts.
 */
export const lambdaBundling = {
  format: 'esm',
  target: 'node22',
  mainFields: ['module', 'main'],
  minify: true,
  keepNames: true,
  externalModules: [],
  sourceMap: true,
  sourcesContent: false,
  banner: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
} as const;

/** One Fargate task definition's size. */
export interface FargateCompute {
  /** CPU units (1024 = 1 vCPU). */
  readonly cpu: number;
  /** Memory in MiB. */
  readonly memoryMiB: number;
  /** Ephemeral storage in GiB (21–200). */
  readonly ephemeralStorageGiB: number;
}

/**
 * The CPU architecture of every Lambda and Fargate task of the stack (Graviton: cheaper per
 * GB-second and per vCPU-hour); infra/ builds for it and the cost estimate prices it.
 */
export const computeArchitecture: 'arm64' | 'x86_64' = 'arm64';

/** The Docker platform of the runner image and of the images PublishImage builds on AWS. */
export const computePlatform = computeArchitecture === 'arm64' ? 'linux/arm64' : 'linux/amd64';

/** Default sizes of the two task definitions (a stack may override each through its props). */
export const fargateCompute = {
  /** Build and Test. */
  runner: { cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 30 },
  /** PublishImage: buildah and layer compression want more than a build step; vfs copies each layer in full. */
  publisher: { cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 50 },
} as const satisfies Record<'runner' | 'publisher', FargateCompute>;
