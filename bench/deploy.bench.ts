/**
 * How does a local rolling update behave under load? Runs examples/hello-service as a local ECS
 * service (2 tasks behind its proxy port, images in the local registry on this machine's node)
 * under a steady load, and rolls out a new revision ROLLOUTS times (v2, v1, v2, …), with
 * REST_SECONDS at rest before each. Prints the rollouts' seconds, the requests served and failed
 * during them (goal: 0 failed), and p99 latency of requests sent during a rollout against those
 * sent at rest (goal: at most 2×).
 *
 * The load comes from a child process (so it does not share the local ECS's event loop): CONNECTIONS
 * keep-alive loops of GET / on the service's URL, bounded in time.
 *
 *   npm run bench:deploy
 *   BENCH_ROLLOUTS=6 BENCH_REST_SECONDS=3 BENCH_CONNECTIONS=16 npm run bench:deploy
 */
import '#local/polyfills.ts';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { startEcsApiServer } from '#local/ecs/api-server.ts';
import { registryImageSource } from '#local/ecs/images.ts';
import { LocalEcs } from '#local/ecs/local-ecs.ts';
import { startLocalRegistry } from '#local/registry/server.ts';
import { pushNodeImage } from '../test/local/ecs/images.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const restSeconds = Math.min(Math.max(Number(process.env.BENCH_REST_SECONDS ?? 2), 1), 30);
const rollouts = Math.min(Math.max(Number(process.env.BENCH_ROLLOUTS ?? 4), 1), 20);
const connections = Math.min(Math.max(Number(process.env.BENCH_CONNECTIONS ?? 8), 1), 64);
/** The load generator stops by itself after this long, whatever happens. */
const maxLoadSeconds = 120;

interface LoadResult {
  served: number;
  failed: number;
  failures: string[];
  /** [sent at (epoch ms), latency ms] of each request answered 200. */
  samples: [number, number][];
  /** Epoch ms each failed request was sent at. */
  failedAt: number[];
  commits: Record<string, number>;
}

/** Child process: `connections` keep-alive loops of GET / until stdin closes or time runs out. */
async function generateLoad(url: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const result: LoadResult = { served: 0, failed: 0, failures: [], samples: [], failedAt: [], commits: {} };
  let ready = false;
  const fail = (sentAt: number, what: string) => {
    result.failed++;
    result.failedAt.push(sentAt);
    if (result.failures.length < 10) result.failures.push(what);
  };
  let running = true;
  process.stdin.on('end', () => {
    running = false;
  });
  process.stdin.resume();
  const deadline = Date.now() + maxLoadSeconds * 1000;
  const once = () =>
    new Promise<void>((resolve) => {
      const sentAt = performance.timeOrigin + performance.now();
      const started = process.hrtime.bigint();
      const req = request(`${url}/?name=bench`, { agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          if (!ready) {
            ready = true;
            process.stdout.write('ready\n');
          }
          if (res.statusCode === 200) {
            result.served++;
            result.samples.push([sentAt, ms]);
            const commit =
              (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { commit?: string }).commit ?? '?';
            result.commits[commit] = (result.commits[commit] ?? 0) + 1;
          } else fail(sentAt, `HTTP ${res.statusCode}`);
          resolve();
        });
        res.on('error', (error) => {
          fail(sentAt, String(error));
          resolve();
        });
      });
      req.on('error', (error) => {
        fail(sentAt, String(error));
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (running && Date.now() < deadline) await once();
    }),
  );
  agent.destroy();
  process.stdout.write(JSON.stringify(result));
}

/** Starts the load generator on `url`, resolved once it has had a first answer; `stop()` ends it. */
async function startLoad(url: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--load', url], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const done = new Promise<LoadResult>((resolve, reject) => {
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(output.slice(output.indexOf('\n') + 1)) as LoadResult)
        : reject(new Error(`load generator exited ${code}`)),
    );
  });
  // The first line, `ready`, comes with the first answer: measuring starts only then.
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (output.includes('\n')) resolve();
    };
    child.stdout.on('data', check);
    done.catch(reject);
  });
  return {
    async stop(): Promise<LoadResult> {
      child.stdin.end();
      return done;
    },
  };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const helloFiles = async (commit: string) => {
  const root = fileURLToPath(new URL('../examples/hello-service/', import.meta.url));
  return [
    { path: 'app/package.json', content: await readFile(join(root, 'package.json')) },
    { path: 'app/src/server.js', content: await readFile(join(root, 'src/server.js')) },
    { path: 'app/src/greeting.js', content: await readFile(join(root, 'src/greeting.js')) },
    { path: 'app/src/build-info.json', content: JSON.stringify({ commit }) },
  ];
};

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'stepline-bench-deploy-'));
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const registry = await startLocalRegistry({ dir: join(dataDir, 'registry'), credentials });
  const ecs = await LocalEcs.start({
    dataDir,
    images: registryImageSource({
      auth: () => ({ kind: 'basic', username: 'AWS', password: registry.password }),
    }),
  });
  const api = await startEcsApiServer(ecs, { credentials });
  const client = new ECSClient({
    endpoint: api.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const image = async (commit: string) =>
      pushNodeImage(registry, 'local/hello-service', {
        tag: commit,
        files: await helloFiles(commit),
        cmd: ['node', 'src/server.js'],
        workdir: '/app',
      });
    const v1 = await image('v1');
    const v2 = await image('v2');
    const cluster = 'stepline-local';
    await client.send(new CreateClusterCommand({ clusterName: cluster }));
    const register = async (uri: string) =>
      (
        await client.send(
          new RegisterTaskDefinitionCommand({
            family: 'hello',
            containerDefinitions: [{ name: 'app', image: uri, essential: true }],
          }),
        )
      ).taskDefinition!.taskDefinitionArn!;
    await client.send(
      new CreateServiceCommand({
        cluster,
        serviceName: 'hello',
        taskDefinition: await register(v1.uri),
        desiredCount: 2,
        deploymentConfiguration: {
          deploymentCircuitBreaker: { enable: true, rollback: true },
          maximumPercent: 200,
          minimumHealthyPercent: 100,
        },
        tags: [{ key: 'stepline:health-path', value: '/healthz' }],
      }),
    );
    const describe = async () =>
      (await client.send(new DescribeServicesCommand({ cluster, services: ['hello'], include: ['TAGS'] })))
        .services![0]!;
    const waitFor = async (id: string) => {
      for (;;) {
        const deployment = (await describe()).deployments?.find((d) => d.id === id);
        if (deployment?.rolloutState !== 'IN_PROGRESS') return deployment?.rolloutState ?? 'GONE';
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const first = await describe();
    await waitFor(first.deployments![0]!.id!);
    const url = first.tags!.find((t) => t.key === 'stepline:url')!.value!;

    const load = await startLoad(url);
    const windows: [number, number][] = [];
    const outcomes: { state: string; seconds: number }[] = [];
    const clock = () => performance.timeOrigin + performance.now();
    for (let i = 0; i < rollouts; i++) {
      await new Promise((resolve) => setTimeout(resolve, restSeconds * 1000));
      const image = i % 2 === 0 ? v2 : v1;
      const taskDefinition = await register(image.uri);
      const started = clock();
      const updated = await client.send(
        new UpdateServiceCommand({ cluster, service: 'hello', taskDefinition }),
      );
      const state = await waitFor(updated.service!.deployments!.find((d) => d.status === 'PRIMARY')!.id!);
      const ended = clock();
      windows.push([started, ended]);
      outcomes.push({ state, seconds: (ended - started) / 1000 });
    }
    await new Promise((resolve) => setTimeout(resolve, restSeconds * 1000));
    const result = await load.stop();

    const during = (at: number) => windows.some(([from, to]) => at >= from && at <= to);
    const rolloutSamples = result.samples.filter(([at]) => during(at)).map(([, ms]) => ms);
    const restSamples = result.samples.filter(([at]) => !during(at)).map(([, ms]) => ms);
    const failedDuring = result.failedAt.filter(during).length;
    const restP99 = percentile(restSamples, 99);
    const rolloutP99 = percentile(rolloutSamples, 99);
    const ratio = rolloutP99 / restP99;
    const seconds = outcomes.map((o) => o.seconds);
    const completed = outcomes.filter((o) => o.state === 'COMPLETED').length;
    const line = (label: string, value: string) => console.log(`  ${label.padEnd(34)} ${value}`);
    console.log(
      `local rolling updates of examples/hello-service: 2 tasks (${ecs.isolation}), ${connections} connections, ${rollouts} rollouts with ${restSeconds} s at rest before each`,
    );
    line('rollouts completed', `${completed} of ${rollouts}`);
    line(
      'rollout seconds (median, max)',
      `${percentile(seconds, 50).toFixed(2)} s, ${Math.max(...seconds).toFixed(2)} s (${seconds.map((s) => s.toFixed(2)).join(', ')})`,
    );
    line(
      'requests during rollouts',
      `${rolloutSamples.length + failedDuring} sent, ${failedDuring} failed (goal: 0)`,
    );
    line('requests in all', `${result.served + result.failed} sent, ${result.failed} failed`);
    line('answers by commit', JSON.stringify(result.commits));
    line(
      'p50 / p99 at rest',
      `${percentile(restSamples, 50).toFixed(2)} / ${restP99.toFixed(2)} ms (${restSamples.length} requests)`,
    );
    line(
      'p50 / p99 during rollouts',
      `${percentile(rolloutSamples, 50).toFixed(2)} / ${rolloutP99.toFixed(2)} ms (${rolloutSamples.length} requests)`,
    );
    line('p99 rollout / rest', `${ratio.toFixed(2)}× (goal: at most 2×)`);
    if (result.failures.length > 0) line('failures', result.failures.join('; '));
    process.exitCode = completed === rollouts && result.failed === 0 ? 0 : 1;
  } finally {
    client.destroy();
    await api.close();
    await ecs.close();
    await registry.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--load') await generateLoad(process.argv[3]!);
else await main();
