import { userInfo } from 'node:os';
import { ECSClient } from '@aws-sdk/client-ecs';
import { type CheckDeploymentDeps, checkDeployment } from '#functions/check-deployment/check-deployment.ts';
import { deploy } from '#functions/deploy/deploy.ts';
import type { Ecs } from '#functions/deploy/ecs.ts';
import { DeploymentConfigError, loadAwsDeploymentConfig, resolveConfigFile } from '#infra/config.ts';
import { findRunningRuntime } from '#local/commands/running-runtime.ts';
import { printable } from '#local/commands/terminal.ts';
import { loadLocalConfig, UsageError } from '#local/config.ts';
import { readLocalCredentials } from '#local/credentials.ts';
import { localRegion } from '#local/s3.ts';
import type { DeploymentState } from '#shared/deployment.ts';
import { type DeploymentConfig, type Environment, matchesRepository } from '#shared/deployment-config.ts';
import { PipelineError } from '#shared/errors.ts';
import type { Fetch } from '#shared/provider-api.ts';
import type { Provider } from '#shared/push-event.ts';

export interface RollbackCommandOptions {
  environment: Environment;
  /** Revision to put back: ARN, `family:revision` or a number. @default the running revision's recorded predecessor */
  to?: string;
  dataDir: string;
  /** Against the deployed stack's services, with the default AWS credential chain. */
  aws: boolean;
  /** Which configured repository's target, when the configuration has several for the environment. */
  repository?: string;
  /** Deployment configuration file (locally as `stepline serve --config`; with --aws as `-c config=`). */
  configPath?: string;
  /** The local webhook secret, for the built-in local configuration (read only when needed). */
  secret: () => string;
  write: (line: string) => void;
  fail: (line: string) => void;
  /** Between checks. @default 1000 locally, 15000 with --aws */
  pollMs?: number;
  /** The ECS client and smoke fetch to use instead of the runtime's or the account's (tests, the console). */
  ecs?: Ecs;
  /** The deployment configuration already loaded (the console's runtime has it) instead of reading it. */
  config?: { config: DeploymentConfig; source: string };
  fetch?: Fetch;
}

/**
 * `stepline rollback --env staging|production [--to REVISION]`: puts a known-good revision back on
 * the environment's service through the Deploy Lambda's rollback path, then follows it with the
 * CheckDeployment logic until ECS says COMPLETED (exit 0) or the rollout fails (exit 1). Usage
 * problems (no running runtime, no target, several targets) exit 2.
 */
export async function rollbackCommand(options: RollbackCommandOptions): Promise<number> {
  const { config, source } = options.config ?? loadConfig(options);
  const choice = chooseTarget(config, source, options.environment, options.repository);
  const ecs = options.ecs ?? (await ecsClient(options));
  const logger = { info: () => {}, warn: () => {} };
  const deps: CheckDeploymentDeps = { ecs, config, fetch: options.fetch ?? globalThis.fetch, logger };
  // Repository names, ARNs and URLs come from the configuration and the provider.
  const write = (line: string) => options.write(printable(line));
  const where = `${options.environment} (${choice.cluster}/${choice.service})`;
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  const pollMs = options.pollMs ?? (options.aws ? 15_000 : 1_000);
  try {
    let state = await deploy(
      {
        environment: options.environment,
        repository: { provider: choice.provider, fullName: choice.fullName },
        ...(options.to ? { rollbackTo: options.to } : {}),
        reason: `stepline rollback by ${safeUser()}`,
      },
      { ecs, config, logger },
    );
    if (state.outcome === 'Completed') {
      write(`${where} already runs ${state.taskDefinitionArn} (${commitOf(state)}): nothing to roll back`);
      return 0;
    }
    write(`Rolling back ${where}`);
    write(`  from ${state.previousTaskDefinitionArn ?? '?'} (${shortCommit(state.previousCommit)})`);
    write(`  to   ${state.taskDefinitionArn} (${commitOf(state)})`);
    write(`  ECS deployment ${state.deploymentId ?? '?'}; waiting until ${state.deadline}`);
    for (;;) {
      await sleep(pollMs);
      state = await checkDeployment({ environment: options.environment, deployment: state }, deps);
      if (state.outcome === 'Superseded') {
        write(`${where} was rolled out to a later push (${state.supersededBy}) while rolling back`);
        return 1;
      }
      if (state.rolloutState === 'COMPLETED') break;
    }
    write(
      `Rolled back: ${where} runs ${state.taskDefinitionArn} (${commitOf(state)})${state.url ? ` at ${state.url}` : ''}`,
    );
    return 0;
  } catch (error) {
    if (error instanceof PipelineError) {
      options.fail(`stepline rollback: ${error.name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function loadConfig(options: RollbackCommandOptions): { config: DeploymentConfig; source: string } {
  if (!options.aws) return loadLocalConfig(options.configPath, options.secret());
  const file = resolveConfigFile({
    contextValue: options.configPath,
    note: (message) => options.fail(message),
  });
  try {
    return { config: loadAwsDeploymentConfig(file).config, source: file };
  } catch (error) {
    if (error instanceof DeploymentConfigError) throw new UsageError(error.message);
    throw error;
  }
}

async function ecsClient(options: RollbackCommandOptions): Promise<Ecs> {
  if (options.aws) return new ECSClient({});
  const runtime = await findRunningRuntime(options.dataDir);
  if (!runtime?.ecsEndpoint) {
    throw new UsageError(
      `no stepline serve with a local ECS is running on ${options.dataDir} (the services live in that process): start it with "npx stepline serve --data ${options.dataDir}", or pass --aws for the deployed stack`,
    );
  }
  return new ECSClient({
    endpoint: runtime.ecsEndpoint,
    region: localRegion,
    credentials: await readLocalCredentials(options.dataDir),
  });
}

interface TargetChoice {
  provider: Provider;
  fullName: string;
  cluster: string;
  service: string;
}

/** The configured target of `environment`: the only one, or the one of `--repository`. */
export function chooseTarget(
  config: DeploymentConfig,
  source: string,
  environment: Environment,
  repository: string | undefined,
): TargetChoice {
  const candidates = config.repositories.filter(
    (entry) => entry.deploy?.[environment] && (!repository || matchesRepository(entry.name, repository)),
  );
  const services = new Map<string, (typeof candidates)[number]>();
  for (const entry of candidates) {
    const target = entry.deploy?.[environment];
    const key = `${target?.cluster}/${target?.service}`;
    if (!services.has(key)) services.set(key, entry);
  }
  const first = candidates[0];
  const target = first?.deploy?.[environment];
  if (!first || !target) {
    throw new UsageError(
      `${source} configures no ${environment} service${repository ? ` for "${repository}"` : ''}: set repositories[].deploy.${environment}`,
    );
  }
  if (services.size > 1) {
    const list = [...services].map(([service, entry]) => `${entry.name} → ${service}`).join(', ');
    throw new UsageError(
      `${source} configures several ${environment} services (${list}): pick one with --repository owner/name`,
    );
  }
  return {
    provider: first.provider,
    fullName: repository ?? first.name,
    cluster: target.cluster,
    service: target.service,
  };
}

function commitOf(state: DeploymentState): string {
  return state.commit === 'unknown' ? 'commit unknown' : `commit ${state.commit.slice(0, 12)}`;
}

const shortCommit = (commit: string | undefined) =>
  commit ? `commit ${commit.slice(0, 12)}` : 'commit unknown';

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown user';
  }
}
