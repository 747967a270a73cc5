import { open, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import * as z from 'zod';
import { listen } from '#local/http/listen.ts';
import { BodyTooLargeError, readBody } from '#local/http/read-body.ts';
import { type LocalStepFunctions, validateExecutionName } from '#local/sfn/engine.ts';
import {
  type LocalHistoryEvent,
  listStoredExecutions,
  readHistory,
  readStoredExecution,
  type StoredExecution,
} from '#local/sfn/store.ts';
import type { ApprovalRecord } from '#shared/approval/record.ts';
import { estimateLabel } from '#shared/cost/prices.ts';
import type { ApprovalDecisionRequest } from './actions.ts';
import type {
  ActionResult,
  ConsoleInfo,
  CostEstimate,
  DetailStreamMessage,
  ExecutionDetail,
  ExecutionSummary,
  GraphLayout,
  ListStreamMessage,
  ServicesPayload,
  ServiceView,
} from './api-types.ts';
import type { ConsoleAssets } from './assets.ts';
import { estimatedCost } from './cost.ts';
import { BadNextTokenError, ListQuery, pageOfExecutions, SummaryCache } from './execution-list.ts';
import { layoutDefinition } from './graph.ts';
import { tokenMatches } from './token.ts';
import { approvalRequestOf, describeExecutionDetail, summarizeExecution } from './views.ts';

/** Where the console listens; beyond loopback only with `allowRemote`. */
export interface ConsoleListenOptions {
  /** @default 127.0.0.1 */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  /** Required to listen on an address other than loopback. @default false */
  allowRemote?: boolean;
  /** Where to listen when `port` is taken (0: any free port). @default none: fail */
  fallbackPort?: number;
}

/** What the console acts through; each action is optional (its button is hidden without it). */
export interface ConsoleDeps {
  dataDir: string;
  engine: LocalStepFunctions;
  /** The rendered ASL the engine runs: the graph is drawn from it. */
  definition: string;
  token: string;
  assets: ConsoleAssets;
  webhookUrl(): string;
  readApproval?(id: string): Promise<ApprovalRecord | undefined>;
  decideApproval?(request: ApprovalDecisionRequest): Promise<ActionResult & { status: number }>;
  listServices?(): Promise<ServiceView[]>;
  rollbacks?: {
    list(): ServicesPayload['rollbacks'];
    start(environment: 'staging' | 'production', to: string | undefined): { id: string } | undefined;
  };
  /** The execution's estimated cost. @default estimateExecutionCost (#shared/cost) */
  costOf?(record: StoredExecution, history: readonly LocalHistoryEvent[]): CostEstimate | null;
  costModel?: string | null;
}

export interface ConsoleServer {
  /** `http://127.0.0.1:<port>` (no token). */
  url: string;
  /** The URL to open: with `?token=`. */
  openUrl: string;
  port: number;
  server: Server;
  /** Tells the services page's streams that something changed (e.g. a rollback line). */
  notifyServices(): void;
  close(): Promise<void>;
}

export class ConsoleBindError extends Error {
  override name = 'ConsoleBindError';
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

const sse = 'text/event-stream; charset=utf-8';
const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
};

const ApprovalBody = z.object({
  decision: z.enum(['approve', 'reject']),
  approver: z.string().min(1).max(320),
  comment: z.string().max(2000).default(''),
});
const RollbackBody = z.object({ to: z.string().min(1).max(300).optional() });
const Environment = z.enum(['staging', 'production']);
const maxLogBytes = 512 * 1024;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...securityHeaders,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function refuse(res: ServerResponse, status: number, message: string) {
  send(res, status, { ok: false, message } satisfies ActionResult);
}

/**
 * The local console: a small web app (built by `buildConsoleAssets`) and the JSON API and event
 * streams it reads. Every `/api/` request needs the console token as `Authorization: Bearer …`
 * (the app keeps it in the origin's localStorage, which, unlike a cookie, no other port of this
 * host can read); actions are POSTs that also need a same-origin `Origin`/`Sec-Fetch-Site` and a
 * JSON body, so no other site can make a browser send one. The Host header must name this server
 * (no DNS rebinding). Everything from repositories goes out as JSON text, rendered as text.
 */
export async function startConsoleServer(
  deps: ConsoleDeps,
  options: ConsoleListenOptions = {},
): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && !options.allowRemote)
    throw new ConsoleBindError(
      `the console would listen on ${host}, beyond loopback: anyone who can reach it could see the runs; pass --allow-remote-console to do it anyway`,
    );
  let graph: GraphLayout | undefined;
  const graphOf = () => {
    graph ??= layoutDefinition(deps.definition);
    return graph;
  };
  const listStreams = new Set<ServerResponse>();
  const detailStreams = new Map<string, Set<ServerResponse>>();
  const serviceStreams = new Set<ServerResponse>();
  const pending = new Map<string, NodeJS.Timeout>();
  const canRedrive = () =>
    typeof (deps.engine as unknown as { redriveExecution?: unknown }).redriveExecution === 'function';
  const runsHere = (name: string) =>
    deps.engine.runningExecutionArns().includes(deps.engine.executionArnOf(name));

  const costOf = (record: StoredExecution, history: readonly LocalHistoryEvent[]) => {
    try {
      return (deps.costOf ?? estimatedCost)(record, history);
    } catch {
      return null;
    }
  };

  const summaries = new SummaryCache((record: StoredExecution): ExecutionSummary => {
    const history = readHistory(deps.dataDir, record.name, () => {});
    return summarizeExecution(record, history, costOf(record, history));
  });
  // Finished executions' rows are kept; only running ones' histories are read again.
  const summaryOf = (record: StoredExecution) => summaries.summaryOf(record);

  const detailOf = async (name: string): Promise<ExecutionDetail | undefined> => {
    const record = readStoredExecution(deps.dataDir, name);
    if (!record) return undefined;
    const history = readHistory(deps.dataDir, name, () => {});
    const request = approvalRequestOf(history);
    const approvalRecord =
      request && deps.readApproval
        ? await deps.readApproval(request.approvalId).catch(() => undefined)
        : undefined;
    const detail = describeExecutionDetail(record, history, {
      dataDir: deps.dataDir,
      approvalRecord,
      cost: costOf(record, history),
      runsHere: runsHere(name),
      canRedrive: canRedrive(),
    });
    if (!deps.decideApproval) detail.actions.approve = false;
    return detail;
  };

  const write = (res: ServerResponse, message: unknown) => {
    res.write(`data: ${JSON.stringify(message)}\n\n`);
  };

  /** Pushes the execution's new row to the list streams and its page to its streams, at most every 150 ms. */
  const onEvent = (executionArn: string) => {
    const name = executionArn.split(':').at(-1) ?? '';
    // An event means the execution runs (ExecutionRedriven: again): its kept row is out of date.
    summaries.forget(name);
    if (pending.has(name)) return;
    pending.set(
      name,
      setTimeout(() => {
        pending.delete(name);
        // A timer has no caller: a record that cannot be read now (being replaced, torn) is skipped;
        // the next event sends the execution again.
        try {
          const record = readStoredExecution(deps.dataDir, name);
          if (!record) return;
          if (listStreams.size > 0) {
            const message: ListStreamMessage = { kind: 'execution', execution: summaryOf(record) };
            for (const res of listStreams) write(res, message);
          }
        } catch {
          return;
        }
        const streams = detailStreams.get(name);
        if (streams && streams.size > 0)
          detailOf(name).then(
            (detail) => {
              if (!detail) return;
              const message: DetailStreamMessage = { kind: 'detail', detail };
              for (const res of streams) write(res, message);
            },
            () => {},
          );
      }, 150),
    );
  };
  const listener = (executionArn: string, _event: LocalHistoryEvent) => onEvent(executionArn);
  deps.engine.on('event', listener);
  const keepAlive = setInterval(() => {
    for (const res of [
      ...listStreams,
      ...serviceStreams,
      ...[...detailStreams.values()].flatMap((s) => [...s]),
    ])
      res.write(': keep-alive\n\n');
  }, 15_000);
  keepAlive.unref();

  let url = '';
  let anyHost = false;
  const allowedHosts = new Set<string>();

  const openStream = (req: IncomingMessage, res: ServerResponse, set: Set<ServerResponse>) => {
    res.writeHead(200, {
      ...securityHeaders,
      'content-type': sse,
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': stream open\n\n');
    set.add(res);
    req.on('close', () => set.delete(res));
  };

  const streamLog = async (req: IncomingMessage, res: ServerResponse, name: string, state: string) => {
    const file = join(deps.dataDir, 'task-logs', name, `${state}.log`);
    res.writeHead(200, { ...securityHeaders, 'content-type': sse, 'cache-control': 'no-store' });
    let closed = false;
    req.on('close', () => {
      closed = true;
    });
    const decoder = new StringDecoder('utf8');
    let offset = 0;
    try {
      const size = (await stat(file)).size;
      if (size > maxLogBytes) {
        offset = size - maxLogBytes;
        write(res, {
          kind: 'log',
          text: `… the first ${offset} bytes are left out; the whole log is ${file}\n`,
        });
      }
    } catch {
      // Not there yet: the task has not started writing.
    }
    const readMore = async () => {
      let handle: Awaited<ReturnType<typeof open>> | undefined;
      try {
        handle = await open(file, 'r');
        for (;;) {
          const buffer = Buffer.alloc(64 * 1024);
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          const text = decoder.write(buffer.subarray(0, bytesRead));
          if (text) write(res, { kind: 'log', text });
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      } finally {
        await handle?.close();
      }
    };
    const stillWriting = () => {
      const record = readStoredExecution(deps.dataDir, name);
      if (record?.status !== 'RUNNING') return false;
      const history = readHistory(deps.dataDir, name, () => {});
      let open = false;
      for (const event of history) {
        const type = String(event.type);
        const info = Object.entries(event).find(([key]) => key.endsWith('EventDetails'))?.[1] as
          | { name?: string }
          | undefined;
        if (type.endsWith('StateEntered')) open = info?.name === state;
        else if (type.endsWith('StateExited')) open = false;
      }
      return open;
    };
    while (!closed) {
      await readMore();
      if (!stillWriting()) {
        await readMore();
        const rest = decoder.end();
        if (rest) write(res, { kind: 'log', text: rest });
        write(res, { kind: 'end' });
        res.end();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  const api = async (
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    query: URLSearchParams,
  ) => {
    if (method === 'GET' && path === '/api/info') {
      const info: ConsoleInfo = {
        dataDir: deps.dataDir,
        stateMachineArn: deps.engine.stateMachineArn,
        webhookUrl: deps.webhookUrl(),
        costModel: deps.costModel ?? estimateLabel(),
      };
      return send(res, 200, info);
    }
    if (method === 'GET' && path === '/api/graph') return send(res, 200, graphOf());
    if (method === 'GET' && path === '/api/executions') {
      const parsed = ListQuery.safeParse(Object.fromEntries(query));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue?.path.join('.') || 'query';
        return refuse(
          res,
          400,
          `bad request: ${field}: ${issue?.message ?? ''} (got ${JSON.stringify(query.get(field))})`,
        );
      }
      const records = listStoredExecutions(deps.dataDir, () => {});
      summaries.retain(new Set(records.map((record) => record.name)));
      try {
        return send(res, 200, pageOfExecutions(records, parsed.data, summaryOf));
      } catch (error) {
        if (error instanceof BadNextTokenError) return refuse(res, 400, `bad request: ${error.message}`);
        throw error;
      }
    }
    if (method === 'GET' && path === '/api/events') return openStream(req, res, listStreams);
    if (method === 'GET' && path === '/api/services') {
      let services: ServiceView[] = [];
      let error: string | null = null;
      try {
        services = (await deps.listServices?.()) ?? [];
      } catch (thrown) {
        error = (thrown as Error).message;
      }
      services.sort(
        (a, b) => a.environment.localeCompare(b.environment) || a.service.localeCompare(b.service),
      );
      return send(res, 200, {
        services,
        rollbacks: deps.rollbacks?.list() ?? [],
        canRollback: deps.rollbacks !== undefined,
        ...(error ? { error } : {}),
      });
    }
    if (method === 'GET' && path === '/api/services/events') return openStream(req, res, serviceStreams);
    const rollback = /^\/api\/services\/([^/]+)\/rollback$/.exec(path);
    if (rollback && method === 'POST') {
      const environment = Environment.safeParse(rollback[1]);
      if (!environment.success) return refuse(res, 404, `no environment ${JSON.stringify(rollback[1])}`);
      const body = RollbackBody.safeParse(await jsonBody(req));
      if (!body.success) return refuse(res, 400, `bad request: ${body.error.issues[0]?.message ?? ''}`);
      if (!deps.rollbacks) return refuse(res, 501, 'rollback is not available in this runtime');
      const job = deps.rollbacks.start(environment.data, body.data.to);
      if (!job) return refuse(res, 409, `a rollback of ${environment.data} is already running`);
      return send(res, 202, {
        ok: true,
        message: `rollback of ${environment.data} started: its progress is below`,
        id: job.id,
      });
    }
    const execution = /^\/api\/executions\/([^/]+)(\/.*)?$/.exec(path);
    if (!execution) return refuse(res, 404, `no route for ${method} ${path}`);
    let name: string;
    try {
      name = decodeURIComponent(execution[1]!);
    } catch {
      return refuse(res, 400, 'malformed execution name');
    }
    // Names never hold these (AWS's rule), so a name with them cannot reach the file system.
    try {
      validateExecutionName(name);
    } catch {
      return refuse(res, 400, 'malformed execution name');
    }
    if (name === '.' || name === '..') return refuse(res, 400, 'malformed execution name');
    const rest = execution[2] ?? '';
    if (method === 'GET' && rest === '') {
      const detail = await detailOf(name);
      return detail ? send(res, 200, detail) : refuse(res, 404, `no execution named ${JSON.stringify(name)}`);
    }
    if (method === 'GET' && rest === '/events') {
      let set = detailStreams.get(name);
      if (!set) {
        set = new Set();
        detailStreams.set(name, set);
      }
      const streams = set;
      openStream(req, res, streams);
      req.on('close', () => {
        if (streams.size === 0) detailStreams.delete(name);
      });
      return;
    }
    const log = /^\/logs\/([A-Za-z0-9_.-]{1,80})$/.exec(rest);
    if (method === 'GET' && log) {
      if (!readStoredExecution(deps.dataDir, name))
        return refuse(res, 404, `no execution named ${JSON.stringify(name)}`);
      return streamLog(req, res, name, log[1]!);
    }
    if (method !== 'POST') return refuse(res, 405, `${method} is not allowed on ${path}`);
    const record = readStoredExecution(deps.dataDir, name);
    if (!record) return refuse(res, 404, `no execution named ${JSON.stringify(name)}`);
    const arn = deps.engine.executionArnOf(name);
    if (rest === '/stop') {
      await jsonBody(req);
      if (record.status !== 'RUNNING') return refuse(res, 409, `${name} is ${record.status}, not running`);
      if (!runsHere(name)) return refuse(res, 409, `${name} is run by another runtime process`);
      await deps.engine.stopExecution(arn, {
        error: 'Stepline.Stopped',
        cause: 'Stopped from the local console',
      });
      return send(res, 200, { ok: true, message: `${name} stopped` } satisfies ActionResult);
    }
    if (rest === '/redrive') {
      await jsonBody(req);
      const engine = deps.engine as unknown as { redriveExecution?: (arn: string) => Promise<unknown> };
      if (typeof engine.redriveExecution !== 'function')
        return refuse(res, 501, 'this runtime cannot redrive executions');
      try {
        await engine.redriveExecution(arn);
      } catch (error) {
        return refuse(res, 409, `${(error as Error).name}: ${(error as Error).message}`);
      }
      return send(res, 200, { ok: true, message: `${name} redriven` } satisfies ActionResult);
    }
    if (rest === '/approval') {
      const body = ApprovalBody.safeParse(await jsonBody(req));
      if (!body.success)
        return refuse(
          res,
          400,
          `bad request: ${body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
        );
      if (!deps.decideApproval) return refuse(res, 501, 'approvals cannot be decided from this console');
      const history = readHistory(deps.dataDir, name, () => {});
      const request = approvalRequestOf(history);
      if (!request) return refuse(res, 409, `${name} has not asked for an approval`);
      const stored = await deps.readApproval?.(request.approvalId).catch(() => undefined);
      const result = await deps.decideApproval({
        id: request.approvalId,
        approver: body.data.approver,
        approvers: stored?.approvers ?? request.approvers,
        expiresAt: stored?.expiresAt ?? request.expiresAt,
        decision: body.data.decision,
        comment: body.data.comment,
      });
      return send(res, result.status, { ok: result.ok, message: result.message } satisfies ActionResult);
    }
    return refuse(res, 404, `no route for ${method} ${path}`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    if (!anyHost && !allowedHosts.has(hostHeader)) {
      req.resume();
      return refuse(res, 421, `this console does not answer for host ${JSON.stringify(hostHeader)}`);
    }
    const parsed = new URL(req.url ?? '/', 'http://console');
    const path = parsed.pathname;
    if (!path.startsWith('/api/')) {
      req.resume();
      if (method !== 'GET' && method !== 'HEAD') return refuse(res, 405, `${method} is not allowed here`);
      const asset = deps.assets.files.get(
        path === '/' || !path.startsWith('/assets/') ? '/index.html' : path,
      );
      if (!asset) return refuse(res, 404, `no file ${path}`);
      res.writeHead(200, {
        ...securityHeaders,
        'content-type': asset.type,
        'content-length': String(asset.body.length),
        'cache-control': 'no-cache',
      });
      return res.end(method === 'HEAD' ? undefined : asset.body);
    }
    const authorization = req.headers.authorization ?? '';
    const given = /^Bearer (\S+)$/.exec(authorization)?.[1];
    if (!tokenMatches(deps.token, given)) {
      req.resume();
      return refuse(
        res,
        401,
        'the console needs its token: open the URL stepline serve printed (with ?token=)',
      );
    }
    if (method === 'POST') {
      // A browser names the page that sent a request; only this console's own pages may act.
      const site = req.headers['sec-fetch-site'];
      const origin = req.headers.origin;
      if (
        (site !== undefined && site !== 'same-origin') ||
        (origin !== undefined && origin !== `http://${hostHeader}`)
      ) {
        req.resume();
        return refuse(res, 403, 'cross-site request refused');
      }
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
        req.resume();
        return refuse(res, 415, 'actions take a JSON body (content-type: application/json)');
      }
    }
    return api(req, res, method, path, parsed.searchParams);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) refuse(res, 500, `internal error: ${(error as Error).message}`);
      else res.destroy();
    });
  });
  const bound = await listen(
    server,
    host,
    options.port ?? 0,
    options.fallbackPort === undefined ? {} : { fallbackPort: options.fallbackPort },
  );
  url = bound.url;
  const port = bound.port;
  for (const name of [
    '127.0.0.1',
    'localhost',
    '[::1]',
    host.includes(':') && !host.startsWith('[') ? `[${host}]` : host,
  ])
    allowedHosts.add(`${name.toLowerCase()}:${port}`);
  const wildcard = host === '0.0.0.0' || host === '::';
  // Listening on every address (--allow-remote-console): the machine's names are not known here.
  anyHost = wildcard;
  const base = wildcard ? `http://127.0.0.1:${port}` : url;
  return {
    url: base,
    openUrl: `${base}/?token=${encodeURIComponent(deps.token)}`,
    port,
    server,
    notifyServices: () => {
      for (const res of serviceStreams) write(res, { kind: 'services' });
    },
    close: async () => {
      deps.engine.off('event', listener);
      clearInterval(keepAlive);
      for (const timer of pending.values()) clearTimeout(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readBody(req, 64 * 1024);
  } catch (error) {
    if (error instanceof BodyTooLargeError) return undefined;
    throw error;
  }
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
