import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LambdaEnvironmentOptions, lambdaEnvironment } from '#local/lambda/environment.ts';
import { type LocalLambdas, localLambdas } from '#local/lambdas.ts';
import { type LambdaKey, lambdaCompute } from '#shared/compute.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { makePush, run } from '../../unit/fetch-source/fixtures.ts';

const unused = 'http://127.0.0.1:9';
const consoleUrl = 'http://127.0.0.1:8081';
const config = DeploymentConfig.parse({
  repositories: [{ provider: 'github', name: 'acme/api', webhookSecret: { value: 'w' } }],
});
const common = {
  config,
  bucket: 'stepline-artifacts',
  credentials: () => ({
    accessKeyId: 'STPLTESTTESTTESTTEST',
    secretAccessKey: 'test-secret-access-key-of-thirty',
  }),
  stateMachineArn: () => 'arn:aws:states:us-east-1:000000000000:stateMachine:stepline-pipeline',
  secretsExtension: { port: 9, token: 'unused' },
};
const endpoints = (console?: string) => ({
  s3: unused,
  sfn: () => unused,
  ses: () => unused,
  approvalBaseUrl: () => unused,
  consoleUrl: () => console,
});

function environmentOf(key: LambdaKey, console?: string) {
  const options: LambdaEnvironmentOptions = {
    ...common,
    dataDir: '/tmp/stepline-unused',
    region: 'us-east-1',
    endpoints: endpoints(console),
  };
  return lambdaEnvironment(key, lambdaCompute[key], `/b/${lambdaCompute[key].folder}/index.mjs`, options);
}

describe('the local console in the functions’ environment', () => {
  it('gives ReportStatus and RequestApproval the console’s URL when the runtime serves one, and no other function', () => {
    expect(environmentOf('reportStatus', consoleUrl).STEPLINE_CONSOLE_URL).toBe(consoleUrl);
    expect(environmentOf('requestApproval', consoleUrl).STEPLINE_CONSOLE_URL).toBe(consoleUrl);
    for (const key of ['webhook', 'approvalApi', 'fetchSource', 'deploy', 'lane'] as const)
      expect(environmentOf(key, consoleUrl)).not.toHaveProperty('STEPLINE_CONSOLE_URL');
  });

  it('names no console when none runs', () => {
    expect(environmentOf('reportStatus')).not.toHaveProperty('STEPLINE_CONSOLE_URL');
    expect(environmentOf('requestApproval')).not.toHaveProperty('STEPLINE_CONSOLE_URL');
  });
});

describe('the bundled ReportStatus with a console', () => {
  let dataDir: string;
  let lambdas: LocalLambdas;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'stepline-console-link-'));
    lambdas = await localLambdas({ ...common, dataDir, endpoints: endpoints(consoleUrl) });
  }, 120_000);

  afterAll(async () => {
    await lambdas?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("points the commit status at the console's execution page", async () => {
    const push = makePush({ after: 'e'.repeat(40) });
    const context = {
      executionArn: '',
      executionName: run.name,
      stateName: 'ReportPending',
      resource: '',
      signal: new AbortController().signal,
    };

    await lambdas.reportStatus({ status: 'pending', push, run }, context);

    const [line] = readFileSync(join(dataDir, 'statuses', `${run.name}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    expect(JSON.parse(line!)).toMatchObject({
      state: 'pending',
      targetUrl: `${consoleUrl}/executions/${encodeURIComponent(run.name)}`,
    });
  }, 60_000);
});
