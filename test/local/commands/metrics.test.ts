import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsCommand, parseSince } from '#local/commands/metrics.ts';
import { type SfnApiServer, startSfnApiServer } from '#local/sfn/api-server.ts';
import { readHistory } from '#local/sfn/store.ts';
import { estimateExecutionCost } from '#shared/cost/estimate.ts';
import { createEngine, tempDataDir } from '../sfn/helpers.ts';

const fixtureDir = join(import.meta.dirname, '../../fixtures/hello-service-run');
const fixtureName = 'github-bdbd6b01-3bc0-4fac-8a01-9be10cc033ee';
/** A day after the recorded run. */
const now = new Date('2026-12-01T00:00:00Z');

/** A data directory holding the recorded hello-service run `copies` times, under other names. */
function dataDirWithRuns(
  copies: number,
  stateMachineArn?: string,
  dir = tempDataDir(),
): { dir: string; names: string[] } {
  mkdirSync(join(dir, 'executions'), { recursive: true });
  const record = JSON.parse(readFileSync(join(fixtureDir, 'executions', `${fixtureName}.json`), 'utf8'));
  const names: string[] = [];
  for (let i = 0; i < copies; i++) {
    const name = `${fixtureName}-${i}`;
    names.push(name);
    const arn = stateMachineArn ?? record.stateMachineArn;
    writeFileSync(
      join(dir, 'executions', `${name}.json`),
      JSON.stringify({
        ...record,
        name,
        stateMachineArn: arn,
        executionArn: `${arn.replace(':stateMachine:', ':execution:')}:${name}`,
      }),
    );
    copyFileSync(
      join(fixtureDir, 'executions', `${fixtureName}.history.jsonl`),
      join(dir, 'executions', `${name}.history.jsonl`),
    );
  }
  return { dir, names };
}

function capture() {
  const lines: string[] = [];
  return { lines, write: (line: string) => lines.push(line) };
}

let server: SfnApiServer | undefined;
let sfn: SFNClient | undefined;
afterEach(async () => {
  sfn?.destroy();
  await server?.close();
  server = undefined;
  sfn = undefined;
});

describe('stepline metrics', () => {
  it('prints the four DORA figures with their band and the cost of the runs in the data directory', async () => {
    const out = capture();

    const code = await metricsCommand({
      dataDir: fixtureDir,
      json: false,
      aws: false,
      now,
      write: out.write,
    });

    expect(code).toBe(0);
    const text = out.lines.join('\n');
    expect(text).toMatch(/deployment frequency\s+0\.03 per day, 0\.23 per week \(1\)\s+MEDIUM/);
    expect(text).toMatch(/lead time for changes\s+median 8 s, p90 8 s \(1\)\s+ELITE/);
    expect(text).toMatch(/change failure rate\s+0% \(0 of 1\)\s+ELITE/);
    expect(text).toMatch(/time to restore\s+no failed deployment/);
    expect(text).toContain('Cost (estimate at us-east-1 list prices of');
    expect(text).toMatch(/per month\s+\$0\.0034/);
    expect(text).toMatch(/per run\s+\$0\.0034 on average/);
  });

  it('reads the store without writing to it', async () => {
    const { dir } = dataDirWithRuns(2);
    const before = readdirSync(join(dir, 'executions')).map((f) => [
      f,
      statSync(join(dir, 'executions', f)).mtimeMs,
    ]);

    await metricsCommand({ dataDir: dir, json: true, aws: false, now, write: () => {} });

    const after = readdirSync(join(dir, 'executions')).map((f) => [
      f,
      statSync(join(dir, 'executions', f)).mtimeMs,
    ]);
    expect(after).toEqual(before);
  });

  it('shows control characters in what it prints escaped', async () => {
    const out = capture();

    await metricsCommand({
      dataDir: join(tempDataDir(), 'x\u001b]0;pwned\u0007'),
      json: false,
      aws: false,
      now,
      write: out.write,
    });

    expect(out.lines[0]).toContain('x\\x1b]0;pwned\\x07');
  });

  it('reads the same figures through the Step Functions API (paginated) as from the store', async () => {
    const dir = tempDataDir();
    const onAws = createEngine(
      { StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } },
      {},
      { dataDir: dir },
    );
    dataDirWithRuns(3, onAws.stateMachineArn, dir);
    const credentials = {
      accessKeyId: 'STPLMETRICSTESTKEY01',
      secretAccessKey: 'metrics-test-secret-0123456789abcdef',
    };
    server = await startSfnApiServer(onAws, { credentials });
    sfn = new SFNClient({ endpoint: server.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    const fromApi = capture();
    const fromStore = capture();

    await metricsCommand({
      dataDir: dir,
      json: true,
      aws: true,
      stateMachineArn: onAws.stateMachineArn,
      sfn,
      pageSize: 2, // 3 executions on 2 pages, 88 history events on 44 pages each
      now,
      write: fromApi.write,
    });
    await metricsCommand({ dataDir: dir, json: true, aws: false, now, write: fromStore.write });

    const api = JSON.parse(fromApi.lines.join('\n'));
    const store = JSON.parse(fromStore.lines.join('\n'));
    expect(api.executions).toBe(3);
    expect(api.dora).toEqual(store.dora);
    expect(api.cost).toEqual(store.cost);
    const one = estimateExecutionCost(readHistory(fixtureDir, fixtureName)).totalUsd;
    expect(api.cost.runs).toBe(3);
    expect(api.cost.perRunUsd).toBeCloseTo(one, 12);
    expect(api.dora.deploymentFrequency.count).toBe(3);
  });

  it('says in one line when --aws has no credentials to read with', async () => {
    const client = new SFNClient({
      region: 'us-east-1',
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        });
      },
    });

    await expect(
      metricsCommand({
        dataDir: fixtureDir,
        json: false,
        aws: true,
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Stepline',
        sfn: client,
        now,
        write: () => {},
      }),
    ).rejects.toMatchObject({
      name: 'UsageError',
      message: expect.stringContaining('--aws: Could not load credentials'),
    });
    client.destroy();
  });

  it('refuses --aws without a state machine ARN, and a --since it cannot read', async () => {
    await expect(
      metricsCommand({ dataDir: fixtureDir, json: false, aws: true, now, write: () => {} }),
    ).rejects.toThrow('--aws needs --state-machine-arn');
    expect(() => parseSince('30 days', now)).toThrow('--since: expected a period such as 30d');
    expect(parseSince('2w', now)).toEqual(new Date('2026-11-17T00:00:00Z'));
    expect(parseSince('2026-11-01', now)).toEqual(new Date('2026-11-01T00:00:00Z'));
  });
});
