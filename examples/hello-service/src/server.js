import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { greet } from './greeting.js';

/** What `npm run build` recorded (commit, time); `{}` when running from the sources. */
function readBuildInfo() {
  try {
    return JSON.parse(readFileSync(new URL('./build-info.json', import.meta.url), 'utf8'));
  } catch {
    return {};
  }
}

/**
 * The service's request handler: `GET /` greets (`?name=`), `GET /healthz` answers the load
 * balancer and the container health check.
 * @param {{ commit?: string }} [buildInfo]
 */
export function createApp(buildInfo = readBuildInfo()) {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' });
    if (url.pathname === '/healthz') return send(200, { status: 'ok' });
    if (url.pathname === '/') {
      try {
        return send(200, { ...greet(url.searchParams.get('name')), commit: buildInfo.commit ?? 'unknown' });
      } catch (error) {
        return send(400, { error: error.message });
      }
    }
    return send(404, { error: 'not found' });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  const server = createApp();
  server.listen(port, () => console.log(`hello-service listening on port ${port}`));
  // ECS (and the local runtime) stop a task with SIGTERM: finish in-flight requests, then exit.
  const stop = (signal) => {
    console.log(`${signal} received, closing`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
