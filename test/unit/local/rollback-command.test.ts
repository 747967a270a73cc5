import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chooseTarget, type RollbackCommandOptions, rollbackCommand } from '#local/commands/rollback.ts';
import { UsageError } from '#local/config.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import {
  deployment,
  describeServices,
  describeTaskDefinition,
  olderArn,
  runningArn,
  runningTags,
  runningTaskDefinition,
  service,
} from '../deploy/fixtures.ts';

const ecsMock = mockClient(ECSClient);
let dir: string;

function configFile(): string {
  const file = join(dir, 'stepline.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      repositories: [
        {
          provider: 'gitea',
          name: 'acme/hello',
          webhookSecret: { value: 'w' },
          deploy: { staging: { cluster: 'apps', service: 'hello-staging', container: 'app' } },
        },
      ],
    }),
  );
  return file;
}

function options(overrides: Partial<RollbackCommandOptions> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const opts: RollbackCommandOptions = {
    environment: 'staging',
    dataDir: dir,
    aws: false,
    configPath: configFile(),
    secret: () => 'unused',
    write: (line) => out.push(line),
    fail: (line) => err.push(line),
    pollMs: 0,
    ecs: new ECSClient({ region: 'eu-west-1' }),
    fetch: async () => new Response('ok'),
    ...overrides,
  };
  return { opts, out, err };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'stepline-rollback-'));
  ecsMock
    .on(DescribeTaskDefinitionCommand, { taskDefinition: runningArn })
    .resolves(describeTaskDefinition(runningTaskDefinition(), runningTags));
  ecsMock
    .on(DescribeTaskDefinitionCommand, { taskDefinition: olderArn })
    .resolves(
      describeTaskDefinition(runningTaskDefinition({ taskDefinitionArn: olderArn, revision: 40 }), [
        { key: 'stepline:commit', value: 'a'.repeat(40) },
      ]),
    );
});

afterEach(() => {
  ecsMock.reset();
  rmSync(dir, { recursive: true, force: true });
});

describe('stepline rollback', () => {
  it('puts the previous revision back and follows the rollout until ECS says COMPLETED', async () => {
    const rollback = (rolloutState: 'IN_PROGRESS' | 'COMPLETED') =>
      describeServices(
        service({
          taskDefinition: olderArn,
          deployments: [
            deployment({ id: 'ecs-svc/rollback', taskDefinition: olderArn, rolloutState }),
            deployment({ status: 'ACTIVE' }),
          ],
        }),
      );
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce(describeServices(service()))
      .resolvesOnce(rollback('IN_PROGRESS'))
      .resolves(rollback('COMPLETED'));
    ecsMock.on(UpdateServiceCommand).resolves({ service: rollback('IN_PROGRESS').services![0] });
    const { opts, out } = options();

    const code = await rollbackCommand(opts);

    expect(code).toBe(0);
    expect(ecsMock.commandCalls(RegisterTaskDefinitionCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input.taskDefinition)).toEqual([
      olderArn,
    ]);
    expect(ecsMock.commandCalls(DescribeServicesCommand)).toHaveLength(3);
    expect(out[0]).toBe('Rolling back staging (apps/hello-staging)');
    expect(out.at(-1)).toBe(
      `Rolled back: staging (apps/hello-staging) runs ${olderArn} (commit aaaaaaaaaaaa) at http://127.0.0.1:41001`,
    );
  });

  it('exits 1 with the ECS events when the rollback itself fails', async () => {
    ecsMock
      .on(DescribeServicesCommand)
      .resolvesOnce(describeServices(service()))
      .resolves(
        describeServices(
          service({
            deployments: [
              deployment({ id: 'ecs-svc/rollback', taskDefinition: olderArn, rolloutState: 'FAILED' }),
              deployment({ status: 'ACTIVE' }),
            ],
            events: [
              {
                createdAt: new Date(Date.now() + 1000),
                message: '(service hello-staging) deployment failed.',
              },
            ],
          }),
        ),
      );
    ecsMock.on(UpdateServiceCommand).resolves({
      service: service({
        deployments: [
          deployment({ id: 'ecs-svc/rollback', taskDefinition: olderArn, rolloutState: 'IN_PROGRESS' }),
        ],
      }),
    });
    const { opts, err } = options();

    const code = await rollbackCommand(opts);

    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/DeploymentFailedError: .*failed.*\n .*deployment failed\./s);
  });

  it('says so and exits 0 when the wanted revision already serves', async () => {
    ecsMock.on(DescribeServicesCommand).resolves(describeServices(service()));
    const { opts, out } = options({ to: runningArn });

    const code = await rollbackCommand(opts);

    expect(code).toBe(0);
    expect(out).toEqual([
      `staging (apps/hello-staging) already runs ${runningArn} (commit bbbbbbbbbbbb): nothing to roll back`,
    ]);
    expect(ecsMock.commandCalls(UpdateServiceCommand)).toHaveLength(0);
  });

  it('asks for a running stepline serve when no local ECS endpoint is recorded', async () => {
    const { opts } = options();
    delete opts.ecs;

    await expect(rollbackCommand(opts)).rejects.toThrow(UsageError);
  });
});

describe('chooseTarget', () => {
  const config = DeploymentConfig.parse({
    repositories: [
      {
        provider: 'github',
        name: 'acme/a',
        webhookSecret: { value: 'w' },
        deploy: { staging: { cluster: 'apps', service: 'a-staging', container: 'app' } },
      },
      {
        provider: 'gitlab',
        name: 'acme/b',
        webhookSecret: { value: 'w' },
        deploy: { staging: { cluster: 'apps', service: 'b-staging', container: 'app' } },
      },
    ],
  });

  it('asks for --repository when several services are configured for the environment', () => {
    expect(() => chooseTarget(config, 'cfg.json', 'staging', undefined)).toThrow(
      'cfg.json configures several staging services (acme/a → apps/a-staging, acme/b → apps/b-staging): pick one with --repository owner/name',
    );
  });

  it("picks the named repository's target and provider", () => {
    expect(chooseTarget(config, 'cfg.json', 'staging', 'acme/b')).toEqual({
      provider: 'gitlab',
      fullName: 'acme/b',
      cluster: 'apps',
      service: 'b-staging',
    });
  });

  it('names the missing config path when nothing deploys to the environment', () => {
    expect(() => chooseTarget(config, 'cfg.json', 'production', undefined)).toThrow(
      'cfg.json configures no production service: set repositories[].deploy.production',
    );
  });
});
