import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { listen } from '#local/http/listen.ts';

/** Headers that belong to one connection, never forwarded. */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(key)) out[key] = value;
  }
  return out;
}

const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

interface Target {
  id: string;
  port: number;
  inFlight: number;
  draining: boolean;
  drained?: () => void;
}

/**
 * The load balancer in front of one service: one stable loopback port, forwarding each request
 * to the registered task with the fewest requests in flight (ALB's "least outstanding requests").
 * Deregistering a task drains it: it gets no new request, and the promise settles once those in
 * flight have finished, so a rolling update drops none. A request that could not reach its task
 * (connection refused or reset before any answer) is retried on another one when it has no body.
 */
export class ServiceProxy {
  readonly #targets = new Map<string, Target>();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });
  #server: Server | undefined;
  #port = 0;
  #next = 0;

  get port(): number {
    return this.#port;
  }

  /** Listens on `127.0.0.1:<port>`; when that port is taken (or none is given), on a free one. */
  async listen(port?: number): Promise<number> {
    const server = createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 5000;
    const bound = await listen(server, '127.0.0.1', port ?? 0, port === undefined ? {} : { fallbackPort: 0 });
    this.#server = server;
    this.#port = bound.port;
    return this.#port;
  }

  /** Starts routing requests to a healthy task. */
  register(id: string, port: number): void {
    this.#targets.set(id, { id, port, inFlight: 0, draining: false });
  }

  get routable(): number {
    let n = 0;
    for (const t of this.#targets.values()) if (!t.draining) n++;
    return n;
  }

  isRegistered(id: string): boolean {
    const target = this.#targets.get(id);
    return target !== undefined && !target.draining;
  }

  /**
   * Stops sending new requests to a task; settles once its requests in flight have ended, or
   * after `timeoutMs` (the target group's deregistration delay).
   */
  deregister(id: string, timeoutMs: number): Promise<void> {
    const target = this.#targets.get(id);
    if (!target) return Promise.resolve();
    target.draining = true;
    if (target.inFlight === 0) {
      this.#targets.delete(id);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      function finish() {
        clearTimeout(timer);
        resolve();
      }
      target.drained = () => {
        this.#targets.delete(id);
        finish();
      };
    });
  }

  #pick(exclude: Set<string>): Target | undefined {
    const candidates = [...this.#targets.values()].filter((t) => !t.draining && !exclude.has(t.id));
    if (candidates.length === 0) return undefined;
    const least = Math.min(...candidates.map((t) => t.inFlight));
    const best = candidates.filter((t) => t.inFlight === least);
    this.#next = (this.#next + 1) % 1_000_000;
    return best[this.#next % best.length];
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const retriable = idempotent.has(req.method ?? 'GET') && !hasBody;
    const tried = new Set<string>();
    const headers = forwardable(req.headers);
    const remote = req.socket.remoteAddress ?? '127.0.0.1';
    headers['x-forwarded-for'] = headers['x-forwarded-for']
      ? `${headers['x-forwarded-for']}, ${remote}`
      : remote;
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-port'] = String(this.#port);

    const attempt = () => {
      const target = this.#pick(tried);
      if (!target) {
        if (!res.headersSent) {
          res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('503 Service Temporarily Unavailable: the service has no healthy task\n');
        } else res.destroy();
        return;
      }
      tried.add(target.id);
      target.inFlight++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        target.inFlight--;
        if (target.draining && target.inFlight === 0) target.drained?.();
      };
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: target.port,
          method: req.method,
          path: req.url,
          headers,
          agent: this.#agent,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardable(answer.headers));
          answer.pipe(res);
          answer.on('error', () => res.destroy());
          res.on('close', () => {
            if (!answer.complete) answer.destroy();
            release();
          });
        },
      );
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        release();
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const beforeAnswer = ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(error.code ?? '');
        if (retriable && beforeAnswer && !req.destroyed) {
          attempt();
          return;
        }
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`502 Bad Gateway: ${error.code ?? error.message}\n`);
      });
      req.on('aborted', () => upstream.destroy());
      if (retriable) upstream.end();
      else req.pipe(upstream);
    };
    if (retriable) {
      // Nothing to send: read the (empty) request to its end so the connection can be reused.
      req.resume();
    }
    attempt();
  }

  async close(): Promise<void> {
    this.#agent.destroy();
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
