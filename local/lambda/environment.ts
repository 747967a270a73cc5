import { dirname } from 'node:path';
import { localTaskRoleArnFormat } from '#local/substitutions.ts';
import type { LambdaCompute, LambdaKey } from '#shared/compute.ts';
import type { DeploymentConfig } from '#shared/deployment-config.ts';

/** The access key the functions sign with (the data directory's, as the runtime's own clients use). */
export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Where the local stand-ins listen; some are known only after the Lambdas are bound, hence functions. */
export interface LocalLambdaEndpoints {
  s3: string;
  sfn(): string;
  ses(): string;
  ecs?: string;
  ecr?: string;
  /** Base URL of approval links: `--public-url`, else the local server's own URL. */
  approvalBaseUrl(): string;
  /**
   * The web console's URL (without its token) when the runtime serves one: statuses and approval
   * emails then link to its execution pages.
   */
  consoleUrl?(): string | undefined;
}

export interface LambdaEnvironmentOptions {
  dataDir: string;
  config: DeploymentConfig;
  bucket: string;
  region: string;
  endpoints: LocalLambdaEndpoints;
  /** The runtime's credentials, read at each cold start (one place, whatever keeps them). */
  credentials: () => LocalCredentials;
  /** Powertools log level. @default POWERTOOLS_LOG_LEVEL of this process, else INFO (the stack's default) */
  logLevel?: string;
  /** The pipeline's state machine, which the webhook starts executions of (known once the engine exists). */
  stateMachineArn(): string;
  /**
   * The AWS Parameters and Secrets Lambda Extension's stand-in (local/secrets-extension.ts): its
   * port and the token it answers, which a function reads secrets with as it does on AWS.
   */
  secretsExtension: { port: number; token: string };
}

/** Variables of this process a function may see: what `git` (FetchSource's archiver, the commit list) needs. */
const passedThrough = ['PATH', 'HOME', 'TMPDIR', 'LANG'] as const;

/** Name of the signing key secret, as the stack passes it; locally `STEPLINE_DATA_DIR` supersedes it. */
const localSigningKeySecret = 'stepline-local/approval-signing-key';

/**
 * The environment of one local function: what Lambda itself sets (region, function name, memory),
 * what the stack gives it (infra/stepline-pipeline.ts), with the AWS endpoints pointed at the local
 * stand-ins, and the local switches (`SOURCE_ARCHIVER=git`, `STATUS_PUBLISHER=local`,
 * `STEPLINE_DATA_DIR`) that put `git archive`, statuses on disk, `git log` and the local signing key
 * where the provider's APIs and Secrets Manager are on AWS. The webhook also gets the secrets
 * extension stand-in's port and token, and the variables its `{ "env" }` secrets name. Nothing else
 * of this process leaks in: no other variable a user exported.
 */
export function lambdaEnvironment(
  key: LambdaKey,
  compute: LambdaCompute,
  bundle: string,
  options: LambdaEnvironmentOptions,
): Record<string, string> {
  const { endpoints } = options;
  const functionName = `stepline-${compute.folder}`;
  const env: Record<string, string> = {};
  for (const name of passedThrough) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    // Set by Lambda for every function.
    AWS_REGION: options.region,
    AWS_DEFAULT_REGION: options.region,
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(compute.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${functionName}`,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    LAMBDA_TASK_ROOT: dirname(bundle),
    ...credentialsVariables(options.credentials()),
    // The local stand-ins, reached by the SDK's own per-service endpoint variables.
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SFN: endpoints.sfn(),
    AWS_ENDPOINT_URL_SESV2: endpoints.ses(),
    ...(endpoints.ecs ? { AWS_ENDPOINT_URL_ECS: endpoints.ecs } : {}),
    ...(endpoints.ecr ? { AWS_ENDPOINT_URL_ECR: endpoints.ecr } : {}),
    // s3rver answers no flexible checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // What PipelineFunction sets for every function.
    POWERTOOLS_SERVICE_NAME: functionName,
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? process.env.POWERTOOLS_LOG_LEVEL ?? 'INFO',
  });
  const config = JSON.stringify(options.config);
  switch (key) {
    case 'fetchSource':
      return {
        ...env,
        ARTIFACT_BUCKET: options.bucket,
        STEPLINE_CONFIG: config,
        TASK_ROLE_ARN_FORMAT: localTaskRoleArnFormat,
        SOURCE_ARCHIVER: 'git',
      };
    case 'reportStatus':
      return {
        ...env,
        STEPLINE_CONFIG: config,
        STATUS_PUBLISHER: 'local',
        STEPLINE_DATA_DIR: options.dataDir,
        ...consoleVariable(endpoints),
      };
    case 'deploy':
    case 'checkDeployment':
      return { ...env, STEPLINE_CONFIG: config };
    case 'requestApproval':
      return {
        ...env,
        ARTIFACT_BUCKET: options.bucket,
        APPROVAL_SIGNING_KEY_SECRET: localSigningKeySecret,
        STEPLINE_CONFIG: config,
        APPROVAL_BASE_URL: endpoints.approvalBaseUrl(),
        STEPLINE_DATA_DIR: options.dataDir,
        ...consoleVariable(endpoints),
      };
    case 'approvalApi':
      return {
        ...env,
        ARTIFACT_BUCKET: options.bucket,
        APPROVAL_SIGNING_KEY_SECRET: localSigningKeySecret,
        STEPLINE_DATA_DIR: options.dataDir,
      };
    case 'lane':
      // Lanes in files under the data directory where the stack gives LANE_TABLE (DynamoDB).
      return { ...env, STEPLINE_CONFIG: config, LANE_STORE: 'local', STEPLINE_DATA_DIR: options.dataDir };
    case 'webhook': {
      // The extension's layer (which the stack adds to functions that read secrets) listens on the
      // port Lambda gives it, and answers only the function's session token.
      const { secretsExtension } = options;
      return {
        ...env,
        ...envSecretVariables(options.config),
        STATE_MACHINE_ARN: options.stateMachineArn(),
        STEPLINE_CONFIG: config,
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(secretsExtension.port),
        AWS_SESSION_TOKEN: secretsExtension.token,
      };
    }
    case 'taskStopped':
      throw new Error(`the local runtime does not run ${functionName} as a Lambda`);
  }
}

/**
 * The variables that `{ "env": NAME }` webhook secrets name, from this process: locally a secret may
 * live in the environment `stepline serve` was started with (on AWS every secret is a
 * `{ "secretName" }`), and the webhook reads it from its own environment.
 */
function envSecretVariables(config: DeploymentConfig): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const repository of config.repositories) {
    const ref = repository.webhookSecret;
    if (ref && 'env' in ref && process.env[ref.env] !== undefined) variables[ref.env] = process.env[ref.env]!;
  }
  return variables;
}

/** `STEPLINE_CONSOLE_URL` when the runtime serves a console: the URL only, never its token. */
function consoleVariable(endpoints: LocalLambdaEndpoints): Record<string, string> {
  const url = endpoints.consoleUrl?.();
  return url ? { STEPLINE_CONSOLE_URL: url } : {};
}

/** The variables that give a function its credentials, as Lambda gives it its role's. */
function credentialsVariables(credentials: LocalCredentials): Record<string, string> {
  return { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey };
}
