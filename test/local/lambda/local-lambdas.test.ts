import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalLambdas, lambdaBundleDir, localLambdas } from '#local/lambdas.ts';
import { lambdaCompute } from '#shared/compute.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { makePush, run } from '../../unit/fetch-source/fixtures.ts';

// The runtime's Lambdas: the stack's bundles, the catalog's settings, the handlers' own env parsing,
// and the local switches in their environment (here STATUS_PUBLISHER=local: statuses on disk).
let dataDir: string;
let lambdas: LocalLambdas;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'stepline-lambdas-'));
  lambdas = await localLambdas({
    dataDir,
    config: DeploymentConfig.parse({
      repositories: [{ provider: 'github', name: 'acme/api', webhookSecret: { value: 'w' } }],
    }),
    bucket: 'stepline-artifacts',
    // Nothing listens here: ReportStatus with local statuses calls no AWS API.
    endpoints: {
      s3: 'http://127.0.0.1:9',
      sfn: () => 'http://127.0.0.1:9',
      ses: () => 'http://127.0.0.1:9',
      approvalBaseUrl: () => 'http://127.0.0.1:9',
    },
    credentials: () => ({
      accessKeyId: 'STPLTESTTESTTESTTEST',
      secretAccessKey: 'test-secret-access-key-of-thirty',
    }),
    stateMachineArn: () => 'arn:aws:states:us-east-1:000000000000:stateMachine:stepline-pipeline',
    // No function here reads a secret.
    secretsExtension: { port: 9, token: 'unused' },
  });
}, 120_000);

afterAll(async () => {
  await lambdas?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the local runtime’s Lambdas', () => {
  it('run with the memory and timeout of the catalog the stack reads', () => {
    expect(lambdas.functions.fetchSource.compute).toBe(lambdaCompute.fetchSource);
    expect(lambdas.functions.fetchSource.compute).toMatchObject({ memorySize: 512, timeoutSeconds: 240 });
    expect(lambdas.functions.reportStatus.compute.timeoutSeconds).toBe(30);
  });

  it('run the bundled ReportStatus handler, whose local switch puts the status on disk', async () => {
    const push = makePush({ after: 'e'.repeat(40) });
    const context = {
      executionArn: '',
      executionName: run.name,
      stateName: 'ReportPending',
      resource: '',
      signal: new AbortController().signal,
    };

    await lambdas.reportStatus({ status: 'pending', push, run }, context);

    const lines = readFileSync(join(dataDir, 'statuses', `${run.name}.jsonl`), 'utf8')
      .trim()
      .split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      state: 'pending',
      sha: 'e'.repeat(40),
      targetUrl: `stepline executions show ${run.name}`,
    });
    expect(readFileSync(join(lambdaBundleDir(dataDir), 'report-status', 'index.mjs'), 'utf8')).toMatch(
      /^import \{ createRequire \} from 'module';/,
    );
  });
});
