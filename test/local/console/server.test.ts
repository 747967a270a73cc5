import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionListPage, ExecutionSummary, GraphLayout } from '#local/console/api-types.ts';
import { buildConsoleAssets, type ConsoleAssets } from '#local/console/assets.ts';
import { layoutDefinition } from '#local/console/graph.ts';
import { ConsoleBindError, type ConsoleServer, startConsoleServer } from '#local/console/server.ts';
import { consoleToken, consoleTokenFile } from '#local/console/token.ts';
import { redactTokens, testsOfFailure } from '#local/console/views.ts';
import { LocalStepFunctions, newTaskToken } from '#local/sfn/engine.ts';
import { renderedLocalDefinition } from './definition.ts';

const definition = JSON.stringify({
  StartAt: 'Hello',
  States: { Hello: { Type: 'Pass', Next: 'Done' }, Done: { Type: 'Succeed' } },
});

/** A raw HTTP request, so the Host header can be anything (fetch would not let a test set it). */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end(options.body);
  });
}

describe('the console server', () => {
  let dataDir: string;
  let engine: LocalStepFunctions;
  let assets: ConsoleAssets;
  let server: ConsoleServer;
  let token: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-console-'));
    engine = new LocalStepFunctions({ dataDir, stateMachineName: 'console-test', definition, tasks: {} });
    assets = await buildConsoleAssets(join(dataDir, 'runtime', 'console'));
    token = consoleToken(dataDir, {});
    server = await startConsoleServer({
      dataDir,
      engine,
      definition,
      token,
      assets,
      webhookUrl: () => 'http://127.0.0.1:1',
    });
    const started = await engine.startExecution({
      name: 'push-1',
      input: JSON.stringify({
        provider: 'github',
        repository: { fullName: 'acme/<b>web</b>' },
        refName: 'main',
        refType: 'branch',
        after: 'a'.repeat(40),
        headCommit: { message: '<img src=x onerror=alert(1)> Fix\nsecond line' },
        pusher: { name: 'Mallory', email: 'mallory@example.com' },
      }),
    });
    await engine.waitForExecution(started.executionArn);
  });

  afterAll(async () => {
    await server?.close();
    await engine?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const auth = () => ({ authorization: `Bearer ${token}` });

  it('keeps its token in the data directory, readable by the owner only', async () => {
    const mode = (await stat(consoleTokenFile(dataDir))).mode & 0o777;

    expect(mode).toBe(0o600);
    expect((await readFile(consoleTokenFile(dataDir), 'utf8')).trim()).toBe(token);
    expect(server.openUrl).toBe(`${server.url}/?token=${token}`);
  });

  it('refuses an API request without the token, or with another one, with 401', async () => {
    const none = await fetch(`${server.url}/api/executions`);
    const wrong = await fetch(`${server.url}/api/executions`, { headers: { authorization: 'Bearer nope' } });
    const stop = await fetch(`${server.url}/api/executions/push-1/stop`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });

    expect(none.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(stop.status).toBe(401);
  });

  it('refuses a POST sent from another origin with 403, even with the token', async () => {
    const crossOrigin = await raw(`${server.url}/api/executions/push-1/stop`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json', origin: 'http://evil.example' },
      body: '{}',
    });
    const crossSite = await raw(`${server.url}/api/executions/push-1/stop`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
      body: '{}',
    });
    const form = await raw(`${server.url}/api/executions/push-1/stop`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=b',
    });

    expect(crossOrigin.status).toBe(403);
    expect(crossSite.status).toBe(403);
    expect(form.status).toBe(415);
  });

  it('answers only for its own host names, so a rebound DNS name cannot reach it', async () => {
    const port = new URL(server.url).port;

    const rebound = await raw(`${server.url}/api/executions`, {
      headers: { ...auth(), host: `evil.example:${port}` },
    });
    const own = await raw(`${server.url}/api/executions`, {
      headers: { ...auth(), host: `localhost:${port}` },
    });

    expect(rebound.status).toBe(421);
    expect(own.status).toBe(200);
  });

  it('refuses to listen beyond loopback unless allowed', async () => {
    const attempt = startConsoleServer(
      { dataDir, engine, definition, token, assets, webhookUrl: () => '' },
      { host: '0.0.0.0' },
    );

    await expect(attempt).rejects.toBeInstanceOf(ConsoleBindError);
  });

  it('serves the app with a policy that allows no inline script and nothing from elsewhere', async () => {
    const page = await fetch(`${server.url}/executions/push-1`);
    const script = await fetch(`${server.url}/assets/app.js`);

    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('/assets/app.js');
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await script.text()).length).toBeLessThan(120 * 1024);
  });

  it('lists an execution with what was pushed, as text', async () => {
    const answer = await fetch(`${server.url}/api/executions`, { headers: auth() });
    const body = (await answer.json()) as { executions: ExecutionSummary[] };

    expect(body.executions).toHaveLength(1);
    expect(body.executions[0]).toMatchObject({
      name: 'push-1',
      status: 'SUCCEEDED',
      repository: 'acme/<b>web</b>',
      branch: 'main',
      commit: 'a'.repeat(40),
      message: '<img src=x onerror=alert(1)> Fix',
      pusher: 'Mallory <mallory@example.com>',
    });
    expect(body.executions[0]?.cost?.formatted).toMatch(/^\$\d/);
    expect(body.executions[0]?.cost?.label).toMatch(
      /^estimate at us-east-1 list prices of \d{4}-\d{2}-\d{2}$/,
    );
  });

  it('filters the list by repository, branch and status', async () => {
    const list = async (query: string) =>
      (
        (await (await fetch(`${server.url}/api/executions?${query}`, { headers: auth() })).json()) as {
          executions: ExecutionSummary[];
        }
      ).executions.length;

    expect(await list('status=SUCCEEDED')).toBe(1);
    expect(await list('status=RUNNING')).toBe(0);
    expect(await list('branch=main&repository=acme%2F%3Cb%3Eweb%3C%2Fb%3E')).toBe(1);
    expect(await list('branch=develop')).toBe(0);
  });
});

describe('the state machine graph', () => {
  it('has a node for every state of the pipeline and an edge for every transition and catch', () => {
    const asl = JSON.parse(renderedLocalDefinition()) as {
      States: Record<
        string,
        { Next?: string; Default?: string; Choices?: { Next: string }[]; Catch?: { Next: string }[] }
      >;
    };

    const layout: GraphLayout = layoutDefinition(renderedLocalDefinition());

    expect(layout.nodes.map((node) => node.name).sort()).toEqual(Object.keys(asl.States).sort());
    for (const [name, state] of Object.entries(asl.States)) {
      const targets = new Set(
        [
          state.Next,
          state.Default,
          ...(state.Choices ?? []).map((c) => c.Next),
          ...(state.Catch ?? []).map((c) => c.Next),
        ].filter((t): t is string => typeof t === 'string'),
      );
      for (const target of targets)
        expect(layout.edges.some((edge) => edge.from === name && edge.to === target)).toBe(true);
    }
    for (const node of layout.nodes) {
      expect(node.x - node.width / 2).toBeGreaterThanOrEqual(0);
      expect(node.x + node.width / 2).toBeLessThanOrEqual(layout.width);
    }
    expect(layout.edges.every((edge) => edge.points.length >= 2)).toBe(true);
  });
});

describe('state data on the execution page', () => {
  it('shows task tokens redacted, whatever field carries them', () => {
    const token = newTaskToken();
    const parameters = JSON.stringify({ Payload: { taskToken: token }, Overrides: { env: `T=${token}` } });

    const shown = redactTokens(parameters) ?? '';

    expect(shown).not.toContain(token);
    expect(shown).toContain(`<task token ${token.slice(4, 12)}…>`);
    expect(JSON.parse(shown).Payload.taskToken).toMatch(/^<task token/);
  });
});

describe('a failed Test stage', () => {
  it('reads the failures back from the runner cause, first, with the counts', () => {
    const cause =
      'test command `npm test` exited with code 1; 2 of 9 tests failed:\n  ✖ math › divides by zero: expected Infinity, got NaN\n  ✖ parses: a: b\n--- last lines of the log ---\n[+ 0.1s] …';

    const tests = testsOfFailure('TestsFailedError', cause);

    expect(tests.failures).toEqual([
      { suite: 'math', name: 'divides by zero', kind: 'failure', message: 'expected Infinity, got NaN' },
      { suite: '', name: 'parses', kind: 'failure', message: 'a: b' },
    ]);
    expect(tests).toMatchObject({ total: 9, failed: 2, passed: 7, failureCause: cause });
    expect(tests.note).toBe('TestsFailedError: a test command exited with code 1');
  });
});

describe('the executions list, paged', () => {
  const work = 'arn:aws:lambda:local:000000000000:function:work';
  const pagedDefinition = JSON.stringify({
    StartAt: 'Work',
    States: { Work: { Type: 'Task', Resource: work, End: true } },
  });
  let dataDir: string;
  let engine: LocalStepFunctions;
  let server: ConsoleServer;
  let token: string;
  /** Names whose cost (so whose history) the console computed, in order. */
  const costed: string[] = [];
  /** `fail` executions fail the first time; a redriven one waits until released. */
  let release: () => void = () => {};
  const redriven = new Promise<void>((resolve) => {
    release = resolve;
  });
  let failures = 0;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-console-list-'));
    engine = new LocalStepFunctions({
      dataDir,
      stateMachineName: 'console-list',
      definition: pagedDefinition,
      tasks: {
        [work]: async (input) => {
          if ((input as { fail?: boolean }).fail) {
            failures += 1;
            if (failures === 1) throw Object.assign(new Error('flaky'), { name: 'FlakyError' });
            await redriven;
          }
          return { ok: true };
        },
      },
    });
    token = consoleToken(dataDir, {});
    server = await startConsoleServer({
      dataDir,
      engine,
      definition: pagedDefinition,
      token,
      assets: await buildConsoleAssets(join(dataDir, 'runtime', 'console')),
      webhookUrl: () => 'http://127.0.0.1:1',
      costOf: (record) => {
        costed.push(record.name);
        return null;
      },
    });
    // run-1 … run-7, started one after the other; odd ones push acme/a, even ones acme/b; run-3 fails.
    for (let n = 1; n <= 7; n++) {
      const started = await engine.startExecution({
        name: `run-${n}`,
        input: JSON.stringify({
          repository: { fullName: n % 2 ? 'acme/a' : 'acme/b' },
          refName: 'main',
          refType: 'branch',
          ...(n === 3 ? { fail: true } : {}),
        }),
      });
      await engine.waitForExecution(started.executionArn);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  });

  afterAll(async () => {
    release();
    await server?.close();
    await engine?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const page = async (query: string) => {
    const answer = await fetch(`${server.url}/api/executions?${query}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: answer.status, body: (await answer.json()) as ExecutionListPage & { message?: string } };
  };
  const names = (body: ExecutionListPage) => body.executions.map((row) => row.name);

  it('pages newest first, each page going on where the last ended through its next token', async () => {
    const first = await page('limit=3');
    const second = await page(`limit=3&nextToken=${encodeURIComponent(first.body.nextToken ?? '')}`);
    const third = await page(`limit=3&nextToken=${encodeURIComponent(second.body.nextToken ?? '')}`);
    const whole = await page('');

    expect(names(first.body)).toEqual(['run-7', 'run-6', 'run-5']);
    expect(names(second.body)).toEqual(['run-4', 'run-3', 'run-2']);
    expect(names(third.body)).toEqual(['run-1']);
    expect(third.body.nextToken).toBeNull();
    expect(first.body.total).toBe(7);
    expect(whole.body.executions).toHaveLength(7);
    expect(whole.body.nextToken).toBeNull();
  });

  it('applies the filters before cutting the page, and names a bad query field', async () => {
    const first = await page('repository=acme%2Fa&limit=2');
    const second = await page(
      `repository=acme%2Fa&limit=2&nextToken=${encodeURIComponent(first.body.nextToken ?? '')}`,
    );
    const failed = await page('status=FAILED&limit=1');
    const badStatus = await page('status=DONE');
    const badToken = await page('nextToken=not-a-token');

    expect(names(first.body)).toEqual(['run-7', 'run-5']);
    expect(names(second.body)).toEqual(['run-3', 'run-1']);
    expect(second.body.nextToken).toBeNull();
    expect(first.body.total).toBe(4);
    expect(first.body.repositories).toEqual(['acme/a', 'acme/b']);
    expect(names(failed.body)).toEqual(['run-3']);
    expect(failed.body.nextToken).toBeNull();
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.message).toContain('status');
    expect(badStatus.body.message).toContain('DONE');
    expect(badToken.status).toBe(400);
    expect(badToken.body.message).toContain('nextToken');
  });

  it("serves a finished execution's row without reading its history again, yet shows a redriven one RUNNING", async () => {
    await page('');
    costed.length = 0;

    const again = await page('');
    const readAgain = [...costed];
    const arn = engine.executionArnOf('run-3');
    await engine.redriveExecution(arn);
    const whileRedriven = await page('status=RUNNING');
    release();
    await engine.waitForExecution(arn);
    const after = await page('');

    expect(again.body.executions).toHaveLength(7);
    expect(readAgain).toEqual([]);
    expect(names(whileRedriven.body)).toEqual(['run-3']);
    expect(whileRedriven.body.executions[0]?.currentState).toBe('Work');
    expect(after.body.executions.find((row) => row.name === 'run-3')?.status).toBe('SUCCEEDED');
    expect(costed.filter((name) => name !== 'run-3')).toEqual([]);
  });
});
