/**
 * How long does the console's executions list take with many executions in the data directory?
 * Runs one execution of a pipeline-sized state machine (STATES Lambda tasks in a row) through the
 * local engine, stores N finished copies of it (records and histories, through the store, as N
 * pushes of 5 repositories), then times `GET /api/executions` (the first page, 50 rows):
 *
 * - cold: a freshly started console (nothing kept), its first request: it reads every record and
 *   the histories of the page's 50 rows;
 * - warm: the same console's later requests: finished executions' rows are kept, only the records
 *   are read;
 * - and, for comparison, reading and summarizing every history as each list request did before.
 *
 *   npm run bench:console
 *   BENCH_EXECUTIONS=2000 BENCH_STATES=40 npm run bench:console
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConsoleAssets } from '#local/console/assets.ts';
import { estimatedCost } from '#local/console/cost.ts';
import { startConsoleServer } from '#local/console/server.ts';
import { summarizeExecution } from '#local/console/views.ts';
import { LocalStepFunctions } from '#local/sfn/engine.ts';
import { listStoredExecutions, readHistory } from '#local/sfn/store.ts';
import { storeFinishedCopies } from '../test/helpers/stored-executions.ts';

const executions = Math.min(Math.max(Number(process.env.BENCH_EXECUTIONS ?? 500), 1), 10_000);
const states = Math.min(Math.max(Number(process.env.BENCH_STATES ?? 20), 1), 200);
const coldRuns = 7;
const warmRuns = 30;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const ms = (value: number) => `${value.toFixed(1)} ms`;

const lambda = (name: string) => `arn:aws:lambda:local:000000000000:function:${name}`;
const names = Array.from({ length: states }, (_, i) => `Step${i + 1}`);
const definition = JSON.stringify({
  StartAt: names[0],
  States: Object.fromEntries(
    names.map((name, i) => [
      name,
      {
        Type: 'Task',
        Resource: lambda(name.toLowerCase()),
        ResultPath: `$.${name}`,
        ...(i === names.length - 1 ? { End: true } : { Next: names[i + 1] }),
      },
    ]),
  ),
});

const dataDir = await mkdtemp(join(tmpdir(), 'stepline-bench-console-'));
try {
  const engine = new LocalStepFunctions({
    dataDir,
    stateMachineName: 'bench-console',
    definition,
    tasks: Object.fromEntries(names.map((name) => [lambda(name.toLowerCase()), async () => ({ ok: name })])),
  });
  const push = (n: number) =>
    JSON.stringify({
      provider: 'github',
      repository: { fullName: `acme/service-${n % 5}` },
      refName: n % 3 ? 'main' : `feature-${n % 7}`,
      refType: 'branch',
      after: n.toString(16).padStart(40, '0'),
      headCommit: { message: `Change ${n}\n\nbody` },
      pusher: { name: 'Dev', email: 'dev@example.com' },
    });
  const template = await engine.startExecution({ name: 'template', input: push(0) });
  await engine.waitForExecution(template.executionArn);
  const history = readHistory(dataDir, 'template');
  const filling = performance.now();
  storeFinishedCopies(dataDir, engine, 'template', {
    count: executions,
    name: (n) => `push-${String(n).padStart(5, '0')}`,
    input: push,
    durationMs: 45_000,
  });
  console.log(
    `${executions} finished executions of ${history.length} events each (${states} Lambda tasks), stored in ${((performance.now() - filling) / 1000).toFixed(1)} s`,
  );

  const assets = await buildConsoleAssets(join(dataDir, 'runtime', 'console'));
  const token = 'bench-token';
  const start = () =>
    startConsoleServer({
      dataDir,
      engine,
      definition,
      token,
      assets,
      webhookUrl: () => 'http://127.0.0.1:1',
    });
  const list = async (url: string, query = '') => {
    const begin = performance.now();
    const answer = await fetch(`${url}/api/executions${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await answer.json()) as { executions: unknown[]; total: number };
    const elapsed = performance.now() - begin;
    if (answer.status !== 200 || body.executions.length === 0)
      throw new Error(`list answered ${answer.status}`);
    return elapsed;
  };

  const cold: number[] = [];
  for (let run = 0; run < coldRuns; run++) {
    const server = await start();
    cold.push(await list(server.url));
    await server.close();
  }
  const server = await start();
  await list(server.url);
  const warm: number[] = [];
  for (let run = 0; run < warmRuns; run++) warm.push(await list(server.url));
  const filtered: number[] = [];
  for (let run = 0; run < warmRuns; run++)
    filtered.push(await list(server.url, '?repository=acme%2Fservice-0&status=FAILED'));
  await server.close();

  const records: number[] = [];
  const everyHistory: number[] = [];
  for (let run = 0; run < 5; run++) {
    let begin = performance.now();
    const stored = listStoredExecutions(dataDir, () => {});
    records.push(performance.now() - begin);
    begin = performance.now();
    for (const one of stored) {
      const events = readHistory(dataDir, one.name, () => {});
      summarizeExecution(one, events, estimatedCost(one, events));
    }
    everyHistory.push(performance.now() - begin + records.at(-1)!);
  }
  await engine.close();

  console.log(`GET /api/executions (first page of 50), median:`);
  console.log(`  cold (a new console, first request; ${coldRuns} runs):        ${ms(median(cold))}`);
  console.log(`  warm (kept rows; ${warmRuns} requests):                       ${ms(median(warm))}`);
  console.log(`  warm, filtered by repository and status:              ${ms(median(filtered))}`);
  console.log(`of which reading the ${executions} records:                    ${ms(median(records))}`);
  console.log(`before (every history read and summarized per request): ${ms(median(everyHistory))}`);
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
