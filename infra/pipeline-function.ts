import { join } from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsLogLevel,
  ParamsAndSecretsVersions,
  Runtime,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { computeArchitecture, type LambdaCompute, lambdaBundling } from '#shared/compute.ts';
import { SECRET_MAX_AGE_SECONDS } from '#shared/secrets.ts';
import { suppress } from './nag.ts';
import { repoRoot } from './paths.ts';

/** Props of {@link PipelineFunction}. */
export interface PipelineFunctionProps {
  /** Folder under `functions/` whose `handler.ts` exports `handler`. */
  readonly folder: string;
  /**
   * The file bundled instead of `functions/<folder>/handler.ts` (the cold-start benchmark's floor).
   * @default - `functions/<folder>/handler.ts`
   */
  readonly entry?: string;
  /** The export of the entry Lambda calls. @default 'handler' */
  readonly handler?: string;
  /** Extra environment variables; the Powertools variables are always set. */
  readonly environment?: Readonly<Record<string, string>>;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: string;
  /** Removal policy of the log group. @default - the log group's default (RETAIN) */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** One-line description shown in the Lambda console. @default - none */
  readonly description?: string;
  /**
   * The function reads `{secretName}` secrets (`awsSecretResolver`, #shared/secrets.ts): it gets the
   * AWS Parameters and Secrets Lambda Extension, which answers on localhost and caches each value, so
   * its bundle carries no Secrets Manager client. Callers still grant `secretsmanager:GetSecretValue`.
   * @default false
   */
  readonly readsSecrets?: boolean;
}

/**
 * The AWS Parameters and Secrets Lambda Extension as Stepline's functions use it: values cached for
 * {@link SECRET_MAX_AGE_SECONDS} (as the SDK-based resolver did), a bounded wait on Secrets Manager, and
 * only its warnings in the function's log.
 */
export function secretsExtension(): ParamsAndSecretsLayerVersion {
  return ParamsAndSecretsLayerVersion.fromVersion(ParamsAndSecretsVersions.V1_0_103, {
    cacheEnabled: true,
    secretsManagerTtl: Duration.seconds(SECRET_MAX_AGE_SECONDS),
    secretsManagerTimeout: Duration.seconds(5),
    logLevel: ParamsAndSecretsLogLevel.WARN,
  });
}

/**
 * esbuild options every Stepline Lambda is bundled with, for Node 22 on Lambda; `npm run
 * bench:cold-start` synthesizes the stack and times these bundles, and test/infra checks the asset.
 * - ESM, `module` before `main`: packages' ES builds, which esbuild can tree-shake.
 * - Minified: less for Node to read and compile at every cold start.
 * - `keepNames`: class and function names survive minification; the state machine matches errors
 *   by name (the error classes also set literal names).
 * - The AWS SDK bundled rather than taken from the runtime: one file, only the commands used, and
 *   the version the tests ran instead of whichever the runtime ships. Loading the runtime's copy
 *   file by file took longer than the whole of a bundled client.
 * - A source map next to the bundle (without the sources) but no `--enable-source-maps`: Node
 *   would read and parse the map at every cold start, a fifth more init time for every function.
 *   `keepNames` keeps function names in stack traces; the map turns their minified positions back
 *   into `functions/…` lines (docs/aws.md, "Cold starts").
 * Kept free of the CDK in functions/shared/compute.ts (`lambdaBundling`): the local runtime builds
 * the same bundles with them.
 */
export const bundlingOptions = { ...lambdaBundling, format: OutputFormat.ESM } as const;

/**
 * The props of a catalogued Lambda (functions/shared/compute.ts): its folder, entry, handler, memory
 * and timeout, the same settings the local runtime runs it with.
 */
export function computeProps(compute: LambdaCompute) {
  return {
    folder: compute.folder,
    entry: join(repoRoot, compute.entry),
    handler: compute.handler,
    memorySize: compute.memorySize,
    timeout: Duration.seconds(compute.timeoutSeconds),
  } satisfies Partial<PipelineFunctionProps>;
}

/**
 * One Lambda of the pipeline: `functions/<folder>/handler.ts` bundled with esbuild for Node 22 on
 * arm64, with its own log group and a role that may write only to that log group. Callers grant
 * everything else explicitly.
 */
export class PipelineFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      ...(props.logRemovalPolicy === undefined ? {} : { removalPolicy: props.logRemovalPolicy }),
    });
    // Our own role instead of AWSLambdaBasicExecutionRole: logs go to this one log group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Stepline ${props.folder} Lambda`,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry ?? join(repoRoot, 'functions', props.folder, 'handler.ts'),
      handler: props.handler ?? 'handler',
      projectRoot: repoRoot,
      depsLockFilePath: join(repoRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_22_X,
      architecture: computeArchitecture === 'arm64' ? Architecture.ARM_64 : Architecture.X86_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup: this.logGroup,
      ...(props.description === undefined ? {} : { description: props.description }),
      ...(props.readsSecrets ? { paramsAndSecrets: secretsExtension() } : {}),
      bundling: { ...bundlingOptions, mainFields: [...bundlingOptions.mainFields], externalModules: [] },
      environment: {
        POWERTOOLS_SERVICE_NAME: `stepline-${props.folder}`,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        ...props.environment,
      },
    });
    this.function.node.addDependency(this.role);
    suppress(this.function, [
      {
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 is pinned on purpose: handlers are bundled for node22 and the local runtime supports Node 20+.',
      },
    ]);
  }
}
