import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findRunningRuntime, runningConsoleOpenUrl } from '#local/commands/running-runtime.ts';

let dataDir: string;
let sfn: Server;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'stepline-running-console-'));
  sfn = createServer((_req, res) => res.end('{}'));
  await new Promise<void>((done) => sfn.listen(0, '127.0.0.1', done));
});

afterEach(async () => {
  await new Promise((done) => sfn.close(done));
  await rm(dataDir, { recursive: true, force: true });
});

/** A runtime.json as a serve of another live process (this test's parent) writes it. */
async function writeRuntimeJson(extra: Record<string, unknown>) {
  const sfnEndpoint = `http://127.0.0.1:${(sfn.address() as AddressInfo).port}`;
  await writeFile(
    join(dataDir, 'runtime.json'),
    JSON.stringify({ pid: process.ppid, webhookUrl: 'http://127.0.0.1:8080', sfnEndpoint, ...extra }),
  );
}

describe("the running serve's console, as stepline run names it", () => {
  it('opens with the token of the data directory, as serve prints it', async () => {
    await writeRuntimeJson({ consoleUrl: 'http://127.0.0.1:8081' });
    await writeFile(join(dataDir, 'console-token'), 'tok/en+1\n', { mode: 0o600 });

    const running = await findRunningRuntime(dataDir);

    expect(running).toBeDefined();
    expect(runningConsoleOpenUrl(running!, dataDir, {})).toBe('http://127.0.0.1:8081/?token=tok%2Fen%2B1');
  });

  it('takes STEPLINE_CONSOLE_TOKEN over the file, as serve does', () => {
    expect(
      runningConsoleOpenUrl({ consoleUrl: 'http://127.0.0.1:8081' }, dataDir, {
        STEPLINE_CONSOLE_TOKEN: 'abc',
      }),
    ).toBe('http://127.0.0.1:8081/?token=abc');
  });

  it('gives the URL alone, and creates no token, when there is no token file', async () => {
    expect(runningConsoleOpenUrl({ consoleUrl: 'http://127.0.0.1:8081' }, dataDir, {})).toBe(
      'http://127.0.0.1:8081/',
    );
    await expect(
      import('node:fs/promises').then((fs) => fs.access(join(dataDir, 'console-token'))),
    ).rejects.toThrow();
  });

  it('names no console when the serve runs without one', async () => {
    await writeRuntimeJson({});

    const running = await findRunningRuntime(dataDir);

    expect(running).toBeDefined();
    expect(runningConsoleOpenUrl(running!, dataDir, {})).toBeUndefined();
  });
});
