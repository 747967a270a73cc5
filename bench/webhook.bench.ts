/**
 * How much does the webhook cost on top of bare HTTP? Drives the local API Gateway stand-in with
 * the webhook as the local runtime runs it (its bundle in Lambda workers, up to its concurrency of
 * 10: signature check, zod parsing, trigger rules, StartExecution through the SDK) with autocannon
 * on loopback, and then a bare `node:http` server that answers 202 without work, and compares.
 *
 * Each server runs in its own child process so it does not share an event loop with autocannon.
 * Step Functions is a loopback stand-in that answers StartExecution at once; every request carries
 * a fresh delivery id, so every one of them is a new execution. The webhook logs nothing (SILENT).
 *
 *   npm run bench:webhook            # 5 s per server
 *   BENCH_DURATION=10 npm run bench:webhook
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { hmacSha256Hex } from '#functions/webhook/signature.ts';
import { localDefaultConfig } from '#local/webhook-server.ts';
import { startWorkerWebhook } from '../test/helpers/webhook-lambda.ts';

const SECRET = 'bench-secret';
const GOAL_RATIO = 0.5;
const durationSeconds = Math.min(Math.max(Number(process.env.BENCH_DURATION ?? 5), 1), 60);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);

async function serveWebhook(): Promise<number> {
  const bundleDir = mkdtempSync(join(tmpdir(), 'stepline-bench-webhook-'));
  process.on('exit', () => rmSync(bundleDir, { recursive: true, force: true }));
  const webhook = await startWorkerWebhook({
    config: localDefaultConfig(SECRET),
    bundleDir,
    resolveSecret: async () => SECRET,
  });
  return webhook.server.port;
}

async function serveBare(): Promise<number> {
  const reply = JSON.stringify({ accepted: true });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      res.end(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Starts this file as a server child process and resolves with its port. */
function startChild(kind: 'webhook' | 'bare'): Promise<{ child: ChildProcess; port: number }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, '--serve', kind], {
    env: { ...process.env, LOG_LEVEL: 'WARN', POWERTOOLS_LOG_LEVEL: 'WARN' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${kind} server did not start within 30 s`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /PORT (\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

interface Measured {
  requestsPerSecond: number;
  p99Ms: number;
  p50Ms: number;
  total: number;
  statuses: Record<string, number>;
  errors: number;
}

async function measure(url: string, body: Buffer, headers: Record<string, string>): Promise<Measured> {
  const result = await autocannon({
    url,
    connections,
    duration: durationSeconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        headers,
        body,
        // A fresh delivery id per request: each is a new push, none an idempotent replay.
        setupRequest: (request) => ({
          ...request,
          headers: { ...request.headers, 'x-github-delivery': randomUUID() },
        }),
      },
    ],
  });
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
  return {
    requestsPerSecond: result.requests.average,
    p99Ms: result.latency.p99,
    p50Ms: result.latency.p50,
    total: result.requests.total,
    statuses,
    errors: result.errors + result.timeouts,
  };
}

async function run(
  kind: 'webhook' | 'bare',
  body: Buffer,
  headers: Record<string, string>,
): Promise<Measured> {
  const { child, port } = await startChild(kind);
  try {
    const path = kind === 'webhook' ? '/webhooks/github' : '/';
    // Warm up (JIT, connection setup) before measuring.
    await autocannon({
      url: `http://127.0.0.1:${port}${path}`,
      connections,
      amount: 500,
      method: 'POST',
      headers,
      body,
    });
    return await measure(`http://127.0.0.1:${port}${path}`, body, headers);
  } finally {
    child.kill('SIGTERM');
  }
}

function describe(name: string, m: Measured): string {
  const statuses = Object.entries(m.statuses)
    .map(([code, count]) => `${code}×${count}`)
    .join(' ');
  return `${name.padEnd(8)} ${m.requestsPerSecond.toFixed(0).padStart(7)} req/s   p50 ${String(m.p50Ms).padStart(4)} ms   p99 ${String(m.p99Ms).padStart(4)} ms   ${m.total} requests (${statuses}${m.errors ? `, ${m.errors} errors` : ''})`;
}

async function main(): Promise<void> {
  const payload = JSON.parse(
    readFileSync(new URL('../test/fixtures/webhooks/github-push.json', import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
  const body = Buffer.from(JSON.stringify(payload));
  const headers = {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': randomUUID(),
    'x-hub-signature-256': `sha256=${hmacSha256Hex(SECRET, body)}`,
  };
  console.log(
    `webhook benchmark: signed GitHub push of ${body.length} bytes, ${connections} connections, ${durationSeconds} s per server, node ${process.version}`,
  );

  const webhook = await run('webhook', body, headers);
  const bare = await run('bare', body, headers);

  console.log(describe('webhook', webhook));
  console.log(describe('bare', bare));
  const throughput = webhook.requestsPerSecond / bare.requestsPerSecond;
  const latency = bare.p99Ms > 0 ? webhook.p99Ms / bare.p99Ms : Number.NaN;
  console.log(
    `ratio    throughput webhook/bare ${(throughput * 100).toFixed(1)}%   p99 webhook/bare ${latency.toFixed(2)}×`,
  );
  const all202 = Object.keys(webhook.statuses).every((code) => code === '202') && webhook.errors === 0;
  if (!all202)
    console.log('note     not every webhook request was answered 202; see the status counts above');
  console.log(
    `${throughput >= GOAL_RATIO && all202 ? 'PASS' : 'MISS'}     goal: webhook ≥ ${GOAL_RATIO * 100}% of bare throughput, every request 202`,
  );
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  const kind = process.argv[serveAt + 1];
  const port = await (kind === 'bare' ? serveBare() : serveWebhook());
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(`PORT ${port}\n`);
} else {
  await main();
}
