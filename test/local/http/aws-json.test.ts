import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsJsonServer, startAwsJsonServer } from '#local/http/aws-json.ts';

describe('an AWS JSON protocol stand-in', () => {
  let server: AwsJsonServer;
  let dispatched = 0;
  beforeAll(async () => {
    server = await startAwsJsonServer({
      name: 'the test service',
      targetPrefix: 'Test.',
      jsonVersion: '1.0',
      maxBodyBytes: 64,
      dispatch: () => {
        dispatched++;
        return {};
      },
      isClientError: (error): error is Error => false && error instanceof Error,
      serverErrorType: 'InternalError',
      credentials: { accessKeyId: 'STPLTESTKEY', secretAccessKey: 'secret' },
    });
  });
  afterAll(() => server.close());

  it('answers a body over its limit with SerializationException, without dispatching it or cutting the connection', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'x-amz-target': 'Test.Do', 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({ padding: 'x'.repeat(60) }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      __type: 'SerializationException',
      message: 'request body is larger than 64 bytes',
    });
    expect(dispatched).toBe(0);
  });
});
