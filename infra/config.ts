import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import picomatch from 'picomatch';
import type { z } from 'zod';
import {
  type DeploymentConfig,
  DeploymentConfig as DeploymentConfigSchema,
  type EcsTarget,
  type Environment,
  environments,
  ImageRepositoryName,
  imageRepositoryFor,
} from '#shared/deployment-config.ts';
import { formatZodError } from '#shared/format-zod-error.ts';

/** The config file the app reads when neither `-c config=…` nor `STEPLINE_CONFIG_FILE` names one. */
export const defaultConfigFile = 'stepline.config.json';
/** Read, with a printed note, when {@link defaultConfigFile} does not exist. */
export const exampleConfigFile = 'stepline.config.example.json';

/**
 * Lambda environments are limited to 4 KB in total; the compact config gets at most this many
 * bytes so the other variables still fit.
 */
export const maxConfigEnvBytes = 3072;

/** A deployment config that cannot be deployed to AWS. Each problem names the field and the bad value. */
export class DeploymentConfigError extends Error {
  override name = 'DeploymentConfigError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source}: invalid deployment config\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** A deployment config as written in the file (defaults not yet applied). */
export type DeploymentConfigInput = z.input<typeof DeploymentConfigSchema>;

/** A secret the AWS stack creates or imports, and who reads it. */
export interface SecretSpec {
  /** Secrets Manager name, as written in the config. */
  readonly secretName: string;
  /** `webhook` secrets are generated; `token` secrets start as a placeholder the user overwrites. */
  readonly kind: 'webhook' | 'token';
}

/** Where a configured secret lives on AWS, as a stack names it. */
export interface SecretPlacement extends SecretSpec {
  /**
   * The Secrets Manager name the stack and the Lambdas use: `<stack name>/<secretName>` for a secret
   * the stack creates (scoped, so several stacks in one account never collide, even with the same
   * config), or the name exactly as it was asked to import.
   */
  readonly physicalName: string;
  /** Imported by name instead of created. */
  readonly imported: boolean;
}

/** The approval signing key's name: one key per stack, `<stack name>/approval-signing-key`. */
export function signingKeySecretName(stackName: string): string {
  return `${stackName}/approval-signing-key`;
}

/** `<stack name>/<secretName>`: the name of a secret the stack creates. */
export function scopedSecretName(stackName: string, secretName: string): string {
  return `${stackName}/${secretName}`;
}

/**
 * Which secrets a stack imports and under which names. `importExisting`: `true` imports every
 * configured secret under its name as written in the config, and the signing key; a list imports
 * only the secrets it names, each entry being either the name as written in the config (a secret
 * you manage, perhaps shared by several stacks) or the name this stack gives a secret it creates
 * (`<stack name>/<secretName>`, or the signing key's, kept from an earlier deployment), and imports
 * it under exactly that name. Everything else is created under `<stack name>/<secretName>`. An entry
 * that names no configured secret is an error (a typo would otherwise create a new empty secret).
 */
export function placeSecrets(
  secrets: readonly SecretSpec[],
  options: { stackName: string; importExisting: boolean | readonly string[] },
): { secrets: SecretPlacement[]; signingKey: { physicalName: string; imported: boolean } } {
  const { stackName, importExisting } = options;
  const signingKeyName = signingKeySecretName(stackName);
  if (typeof importExisting === 'boolean') {
    return {
      secrets: secrets.map((spec) => ({
        ...spec,
        physicalName: importExisting ? spec.secretName : scopedSecretName(stackName, spec.secretName),
        imported: importExisting,
      })),
      signingKey: { physicalName: signingKeyName, imported: importExisting },
    };
  }
  const listed = new Set(importExisting);
  const used = new Set<string>();
  const placed = secrets.map((spec) => {
    const scoped = scopedSecretName(stackName, spec.secretName);
    const entry = [spec.secretName, scoped].find((name) => listed.has(name));
    if (entry === undefined) return { ...spec, physicalName: scoped, imported: false };
    used.add(entry);
    return { ...spec, physicalName: entry, imported: true };
  });
  const signingKeyImported = listed.has(signingKeyName) || listed.has('approval-signing-key');
  if (listed.has(signingKeyName)) used.add(signingKeyName);
  if (listed.has('approval-signing-key')) used.add('approval-signing-key');
  const unknown = [...listed].filter((name) => !used.has(name));
  if (unknown.length > 0) {
    const known = [...secrets.map((s) => s.secretName), signingKeyName];
    throw new Error(
      `importExistingSecrets: ${unknown.map((n) => JSON.stringify(n)).join(', ')} names no configured secret; ` +
        `name them as written in the config or as this stack names them (<stack name>/<secretName>): ${known.join(', ')}`,
    );
  }
  return { secrets: placed, signingKey: { physicalName: signingKeyName, imported: signingKeyImported } };
}

/**
 * One configured ECS service, as the stack scopes the Deploy and CheckDeployment permissions to it.
 * `partition`, `region` and `account` are set when the config names the cluster or service by ARN;
 * otherwise the service lives in the stack's own account and region.
 */
export interface DeployTarget {
  /** The configured repository (`owner/name`) that deploys here. */
  readonly repository: string;
  readonly environment: Environment;
  /** Cluster name (taken out of the ARN when the config gives one). */
  readonly cluster: string;
  /** Service name (taken out of the ARN when the config gives one). */
  readonly service: string;
  readonly partition?: string;
  readonly region?: string;
  readonly account?: string;
  readonly taskRoleArn: string;
  readonly executionRoleArn: string;
}

/** A {@link DeploymentConfig} checked for AWS: every secret is a Secrets Manager name, every repository is named. */
export interface AwsDeploymentConfig {
  readonly config: DeploymentConfig;
  /** Unique secrets in first-use order. */
  readonly secrets: readonly SecretSpec[];
  /** Every configured ECS service, with the roles its task definition passes. */
  readonly deployTargets: readonly DeployTarget[];
  /** The ECR repository names PublishImage pushes to, unique, in first-use order. */
  readonly imageRepositories: readonly string[];
}

/** Where the config file is: `-c config=…`, then `STEPLINE_CONFIG_FILE`, then the default, then the example. */
export function resolveConfigFile(
  options: {
    contextValue?: unknown;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    note?: (message: string) => void;
  } = {},
): string {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const named =
    typeof options.contextValue === 'string' && options.contextValue !== ''
      ? options.contextValue
      : undefined;
  const fromEnv = env.STEPLINE_CONFIG_FILE !== '' ? env.STEPLINE_CONFIG_FILE : undefined;
  const explicit = named ?? fromEnv;
  if (explicit !== undefined) return resolve(cwd, explicit);
  const preferred = resolve(cwd, defaultConfigFile);
  if (existsSync(preferred)) return preferred;
  const example = resolve(cwd, exampleConfigFile);
  (options.note ?? ((m: string) => process.stderr.write(`${m}\n`)))(
    `note: ${defaultConfigFile} not found; using ${exampleConfigFile}. Copy it to ${defaultConfigFile} and edit it for your repositories.`,
  );
  return example;
}

/** Reads and validates a deployment config file for AWS. Throws {@link DeploymentConfigError}. */
export function loadAwsDeploymentConfig(file: string): AwsDeploymentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new DeploymentConfigError(file, [`cannot read the file: ${(error as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DeploymentConfigError(file, [`not valid JSON: ${(error as Error).message}`]);
  }
  return parseAwsDeploymentConfig(json, file);
}

/**
 * Validates a parsed config document against {@link DeploymentConfig} and the AWS rules: secrets are
 * `{ secretName }` (a `value` would land in the template, an `env` names nothing on AWS), and repository
 * names are exact (an AWS deployment always names its repositories).
 */
export function parseAwsDeploymentConfig(input: unknown, source = 'deployment config'): AwsDeploymentConfig {
  const parsed = DeploymentConfigSchema.safeParse(input);
  if (!parsed.success) throw new DeploymentConfigError(source, formatZodError(parsed.error));
  const config = parsed.data;
  const problems: string[] = [];
  const secrets = new Map<string, SecretSpec>();
  const deployTargets: DeployTarget[] = [];
  const imageRepositories = new Set<string>();

  config.repositories.forEach((repo, index) => {
    const where = `repositories[${index}] (${JSON.stringify(repo.name)})`;
    if (picomatch.scan(repo.name).isGlob) {
      problems.push(
        `${where}.name: ${JSON.stringify(repo.name)} is a glob; an AWS deployment always names its repositories (write "owner/name")`,
      );
    }
    const refs = [
      ['webhookSecret', repo.webhookSecret, 'webhook'],
      ['providerToken', repo.providerToken, 'token'],
    ] as const;
    for (const [field, ref, kind] of refs) {
      if (ref === undefined) continue;
      if (!('secretName' in ref)) {
        const given = 'value' in ref ? '{ "value": … }' : `{ "env": ${JSON.stringify(ref.env)} }`;
        const why =
          'value' in ref
            ? 'a literal value would land in the CloudFormation template'
            : 'an environment variable of your machine does not exist in AWS';
        problems.push(
          `${where}.${field}: on AWS a secret must be { "secretName": "…" } (a Secrets Manager name), got ${given}: ${why}`,
        );
        continue;
      }
      const { secretName } = ref;
      if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(secretName)) {
        problems.push(
          `${where}.${field}.secretName: ${JSON.stringify(secretName)} is not a valid Secrets Manager name (letters, digits and /_+=.@- only)`,
        );
        continue;
      }
      const seen = secrets.get(secretName);
      if (seen !== undefined && seen.kind !== kind) {
        problems.push(
          `${where}.${field}.secretName: ${JSON.stringify(secretName)} is used both as a webhook secret and as a provider token`,
        );
        continue;
      }
      if (seen === undefined) secrets.set(secretName, { secretName, kind });
    }

    const image = imageRepositoryFor(repo, repo.name);
    // imageRepositoryFor falls back to a shared name when none can be derived; on AWS that would mix images.
    const derivable = ImageRepositoryName.safeParse(repo.name.toLowerCase()).success;
    if (repo.image === undefined && image === 'stepline/unnamed' && !derivable) {
      problems.push(
        `${where}.image.repository: no ECR repository name can be derived from ${JSON.stringify(repo.name)}; set one (lowercase, e.g. "acme/hello-service")`,
      );
    } else if (image.length < 2 || image.length > 256) {
      problems.push(
        `${where}.image.repository: ${JSON.stringify(image)} must be 2 to 256 characters for ECR`,
      );
    } else {
      imageRepositories.add(image);
    }

    for (const environment of environments) {
      const target = repo.deploy?.[environment];
      if (target === undefined) continue;
      const found = deployTarget(repo.name, environment, target, `${where}.deploy.${environment}`, problems);
      if (found !== undefined) deployTargets.push(found);
    }
  });

  if (problems.length > 0) throw new DeploymentConfigError(source, problems);
  return {
    config,
    secrets: [...secrets.values()],
    deployTargets,
    imageRepositories: [...imageRepositories],
  };
}

const ecsName = /^[A-Za-z0-9_-]{1,255}$/;
const clusterArn = /^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):(\d{12}):cluster\/([A-Za-z0-9_-]{1,255})$/;
const serviceArn =
  /^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):(\d{12}):service\/([A-Za-z0-9_-]{1,255})\/([A-Za-z0-9_-]{1,255})$/;

/**
 * A configured ECS target checked for AWS: cluster and service are names (or ARNs in the long
 * format), and the task definition's two roles are named, because the stack may allow
 * `iam:PassRole` only for roles it knows.
 */
function deployTarget(
  repository: string,
  environment: Environment,
  target: EcsTarget,
  where: string,
  problems: string[],
): DeployTarget | undefined {
  const before = problems.length;
  const missing = (['taskRoleArn', 'executionRoleArn'] as const).filter((key) => target[key] === undefined);
  if (missing.length > 0) {
    problems.push(
      `${where}: on AWS name the roles of the service's task definition (${missing.join(', ')} missing): ` +
        'Deploy registers task-definition revisions that pass them to ECS, and the stack allows iam:PassRole only for roles it knows. ' +
        `Find them with: aws ecs describe-task-definition --task-definition <the service's task definition> --query "taskDefinition.[taskRoleArn,executionRoleArn]"`,
    );
  }
  let cluster = target.cluster;
  let arnParts: { partition: string; region: string; account: string } | undefined;
  const clusterMatch = clusterArn.exec(target.cluster);
  if (clusterMatch !== null) {
    const [, partition = '', region = '', account = '', name = ''] = clusterMatch;
    cluster = name;
    arnParts = { partition, region, account };
  } else if (!ecsName.test(target.cluster)) {
    problems.push(
      `${where}.cluster: ${JSON.stringify(target.cluster)} is neither an ECS cluster name (letters, digits, - and _) nor a cluster ARN`,
    );
  }
  let service = target.service;
  const serviceMatch = serviceArn.exec(target.service);
  if (serviceMatch !== null) {
    const [, partition = '', region = '', account = '', inCluster = '', name = ''] = serviceMatch;
    if (inCluster !== cluster) {
      problems.push(
        `${where}.service: ${JSON.stringify(target.service)} is a service of cluster "${inCluster}", not of the configured cluster "${cluster}"`,
      );
    }
    service = name;
    arnParts = { partition, region, account };
  } else if (!ecsName.test(target.service)) {
    problems.push(
      `${where}.service: ${JSON.stringify(target.service)} is neither an ECS service name (letters, digits, - and _) nor a service ARN (arn:aws:ecs:<region>:<account>:service/<cluster>/<service>)`,
    );
  }
  if (problems.length > before) return undefined;
  return {
    repository,
    environment,
    cluster,
    service,
    ...(arnParts ?? {}),
    taskRoleArn: target.taskRoleArn!,
    executionRoleArn: target.executionRoleArn!,
  };
}

/**
 * The config as the Lambdas receive it in `STEPLINE_CONFIG`: compact JSON of the config as written
 * (the Lambdas fill in the defaults when they parse it), without `$schema` and without the deploy
 * targets' role ARNs, which only the stack's IAM policies use; each secret named as the stack placed
 * it (`secretNames`: config name → Secrets Manager name, see {@link placeSecrets}). Throws when it
 * would not fit in a Lambda environment (see {@link maxConfigEnvBytes}).
 */
export function configForEnvironment(
  config: DeploymentConfigInput | DeploymentConfig,
  options: { secretNames?: ReadonlyMap<string, string> } = {},
): string {
  const { $schema: _schema, ...rest } = config;
  const placed = <T>(ref: T): T => {
    if (typeof ref !== 'object' || ref === null || !('secretName' in ref)) return ref;
    const name = options.secretNames?.get(String(ref.secretName));
    return name === undefined ? ref : { ...ref, secretName: name };
  };
  const json = JSON.stringify({
    ...rest,
    repositories: rest.repositories.map((written) => {
      const repository = {
        ...written,
        ...(written.webhookSecret === undefined ? {} : { webhookSecret: placed(written.webhookSecret) }),
        ...(written.providerToken === undefined ? {} : { providerToken: placed(written.providerToken) }),
      };
      if (repository.deploy === undefined) return repository;
      const deploy: Record<string, unknown> = {};
      for (const [environment, target] of Object.entries(repository.deploy)) {
        if (target === undefined) continue;
        const { taskRoleArn: _task, executionRoleArn: _execution, ...kept } = target;
        deploy[environment] = kept;
      }
      return { ...repository, deploy };
    }),
  });
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxConfigEnvBytes) {
    throw new Error(
      `the deployment config is ${bytes} bytes as compact JSON; Lambda environments hold 4 KB in total, so STEPLINE_CONFIG may use at most ${maxConfigEnvBytes} bytes. ` +
        'Split the repositories over several Stepline stacks (one config file each), or shorten trigger and path lists.',
    );
  }
  return json;
}
