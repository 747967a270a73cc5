import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../src/server.js';

describe('server', () => {
  let server;
  let base;

  before(async () => {
    server = createApp({ commit: 'abc1234' });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${server.address().port}`;
  });

  after(() => new Promise((resolve) => server.close(resolve)));

  it('answers the health check', async () => {
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('greets with the name from the query and the built commit', async () => {
    const res = await fetch(`${base}/?name=Linus`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { message: 'Hello, Linus!', commit: 'abc1234' });
  });

  it('answers 400 for a name that is too long', async () => {
    const res = await fetch(`${base}/?name=${'x'.repeat(100)}`);
    assert.equal(res.status, 400);
  });

  it('answers 404 for an unknown path', async () => {
    const res = await fetch(`${base}/nope`);
    assert.equal(res.status, 404);
  });

  it('refuses methods other than GET', async () => {
    const res = await fetch(`${base}/`, { method: 'POST' });
    assert.equal(res.status, 405);
  });
});
