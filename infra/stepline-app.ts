import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadAwsDeploymentConfig, resolveConfigFile } from './config.ts';
import { DemoStack } from './demo-stack.ts';
import type { BaseImageSource } from './image-repositories.ts';
import { type ExistingNetwork, PipelineStack } from './pipeline-stack.ts';

/** Options of {@link buildApp}; the defaults read the process. */
export interface BuildAppOptions {
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Directory the config path is relative to. @default process.cwd() */
  readonly cwd?: string;
  /** Where notes (such as "using the example config") go. @default stderr */
  readonly note?: (message: string) => void;
}

/** The stacks {@link buildApp} added. */
export interface SteplineStacks {
  readonly pipeline: PipelineStack;
  readonly demo?: DemoStack;
}

/**
 * Adds the Stepline stacks to an app from the deployment config file and context, and registers the
 * cdk-nag AwsSolutions checks. Context keys (`-c key=value`, or `context` in cdk.json):
 *
 * - `stackName`: CloudFormation name of the pipeline stack (default `Stepline`)
 * - `config`: path of the deployment config (else `STEPLINE_CONFIG_FILE`, else `stepline.config.json`,
 *   else `stepline.config.example.json`)
 * - `importExistingSecrets`: `true` to import every configured secret (and the signing key) by name
 *   instead of creating it, or a comma-separated list of the secret names to import (see
 *   `importExistingSecrets` of `StepLinePipelineProps`)
 * - `vpcId`, `subnetIds` (comma-separated), `securityGroupIds` (comma-separated, optional) and
 *   `assignPublicIp`: run the runner tasks in an existing VPC (no lookups: ids are taken as given)
 * - `demo`: `true` to add the `SteplineDemo` stack (a cluster and services for examples/hello-service)
 * - `baseRegistry`: where PublishImage resolves short base image names (default `public.ecr.aws/docker/library`)
 * - `pullThroughCachePrefix`: resolve them through an ECR pull-through cache rule for ECR Public with this
 *   repository prefix instead (the stack creates the rule unless `pullThroughCacheRuleExists=true`)
 * - `importExistingImageRepositories`: `true` to import the configured ECR repositories by name
 * - `sesSandbox`: `true` while the account is in the SES sandbox (allows the recipients' identities too)
 */
export function buildApp(app: App, options: BuildAppOptions = {}): SteplineStacks {
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const file = resolveConfigFile({
    contextValue: context('config'),
    env: options.env ?? process.env,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.note === undefined ? {} : { note: options.note }),
  });
  const { config, imageRepositories } = loadAwsDeploymentConfig(file);
  const network = existingNetwork(context);
  const baseImages = baseImageSource(context);

  const stackName = context('stackName');
  const pipeline = new PipelineStack(app, 'Stepline', {
    ...(typeof stackName === 'string' && stackName !== '' ? { stackName } : {}),
    description: 'Stepline: serverless CI/CD pipeline (webhooks, Step Functions, Fargate runner)',
    pipeline: {
      config,
      importExistingSecrets: secretsToImport(context('importExistingSecrets')),
      importExistingImageRepositories: flag(context('importExistingImageRepositories')),
      sesSandboxRecipients: flag(context('sesSandbox')),
      ...(baseImages === undefined ? {} : { baseImages }),
    },
    ...(network === undefined ? {} : { network }),
  });
  const demo = flag(context('demo'))
    ? new DemoStack(app, 'SteplineDemo', {
        description: 'Stepline demo deploy target (examples/hello-service)',
        imageRepositories,
      })
    : undefined;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return demo === undefined ? { pipeline } : { pipeline, demo };
}

function existingNetwork(context: (key: string) => unknown): ExistingNetwork | undefined {
  const vpcId = context('vpcId');
  const subnetIds = list(context('subnetIds'));
  const securityGroupIds = list(context('securityGroupIds'));
  if (vpcId === undefined || vpcId === '') {
    if (subnetIds.length > 0 || securityGroupIds.length > 0)
      throw new Error('context subnetIds/securityGroupIds need vpcId too (-c vpcId=vpc-…)');
    return undefined;
  }
  if (typeof vpcId !== 'string' || !/^vpc-[0-9a-f]+$/.test(vpcId))
    throw new Error(`context vpcId: expected a VPC id like vpc-0abc…, got ${JSON.stringify(vpcId)}`);
  if (subnetIds.length === 0)
    throw new Error(
      'context vpcId needs subnetIds (-c subnetIds=subnet-a,subnet-b): the app does not look up the VPC, so synth stays offline',
    );
  for (const id of subnetIds)
    if (!/^subnet-[0-9a-f]+$/.test(id))
      throw new Error(`context subnetIds: expected subnet ids like subnet-0abc…, got ${JSON.stringify(id)}`);
  for (const id of securityGroupIds)
    if (!/^sg-[0-9a-f]+$/.test(id))
      throw new Error(
        `context securityGroupIds: expected security group ids like sg-0abc…, got ${JSON.stringify(id)}`,
      );
  return { vpcId, subnetIds, securityGroupIds, assignPublicIp: flag(context('assignPublicIp')) };
}

function baseImageSource(context: (key: string) => unknown): BaseImageSource | undefined {
  const registry = context('baseRegistry');
  const prefix = context('pullThroughCachePrefix');
  const given = (value: unknown): value is string => typeof value === 'string' && value !== '';
  if (given(registry) && given(prefix))
    throw new Error('context baseRegistry and pullThroughCachePrefix exclude each other: name one');
  if (given(registry)) return { registry };
  if (given(prefix))
    return { pullThroughCachePrefix: prefix, createRule: !flag(context('pullThroughCacheRuleExists')) };
  return undefined;
}

/** `true`/`false`, or a comma-separated list of secret names. */
function secretsToImport(value: unknown): boolean | string[] {
  if (value === undefined || value === false || value === 'false' || value === '') return false;
  if (value === true || value === 'true') return true;
  return list(value);
}

function flag(value: unknown): boolean {
  return value === true || value === 'true';
}

function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string') return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
