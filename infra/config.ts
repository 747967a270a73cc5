import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import picomatch from 'picomatch';
import type { z } from 'zod';
import {
  type DeploymentConfig,
  DeploymentConfig as DeploymentConfigSchema,
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

/** A {@link DeploymentConfig} checked for AWS: every secret is a Secrets Manager name, every repository is named. */
export interface AwsDeploymentConfig {
  readonly config: DeploymentConfig;
  /** Unique secrets in first-use order. */
  readonly secrets: readonly SecretSpec[];
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
  });

  if (problems.length > 0) throw new DeploymentConfigError(source, problems);
  return { config, secrets: [...secrets.values()] };
}

/**
 * The config as the Lambdas receive it in `STEPLINE_CONFIG`: compact JSON without `$schema`.
 * Throws when it would not fit in a Lambda environment (see {@link maxConfigEnvBytes}).
 */
export function configForEnvironment(config: DeploymentConfig): string {
  const { $schema: _schema, ...rest } = config;
  const json = JSON.stringify(rest);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxConfigEnvBytes) {
    throw new Error(
      `the deployment config is ${bytes} bytes as compact JSON; Lambda environments hold 4 KB in total, so STEPLINE_CONFIG may use at most ${maxConfigEnvBytes} bytes. ` +
        'Split the repositories over several Stepline stacks (one config file each), or shorten trigger and path lists.',
    );
  }
  return json;
}
