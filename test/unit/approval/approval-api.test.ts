import type { S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type ApprovalApiDeps,
  type ApprovalRequest,
  handleApproval,
} from '#functions/approval-api/approval-api.ts';
import { createApprovalApiHandler } from '#functions/approval-api/create-handler.ts';
import { signApproval } from '#shared/approval/link.ts';
import { type ApprovalRecord, approvalKey } from '#shared/approval/record.ts';
import { createLogger } from '#shared/logger.ts';
import { approvalId, record } from './fixtures.ts';
import { mockS3Store, named, silentLogger } from './helpers.ts';

const key = 'approval-signing-key-for-tests';
const now = Date.parse('2026-11-30T05:30:00Z');
const expires = Math.floor(Date.parse('2026-11-30T06:00:00Z') / 1000);
const sfnMock = mockClient(SFNClient);
let store: ReturnType<typeof mockS3Store>;
let spent: Set<string>;

function deps(overrides: Partial<ApprovalApiDeps> = {}): ApprovalApiDeps {
  return {
    s3: store.client,
    bucket: 'artifacts',
    sfn: new SFNClient({ region: 'eu-west-1' }),
    signingKey: async () => key,
    logger: silentLogger,
    now: () => now,
    ...overrides,
  };
}

function save(value: ApprovalRecord): void {
  store.objects.set(approvalKey(value.id), JSON.stringify(value));
}

function stored(): ApprovalRecord {
  return JSON.parse(store.objects.get(approvalKey(approvalId))!) as ApprovalRecord;
}

function link(approver = 'alice@example.com', at = expires, signingKey = key) {
  return { approver, expires: at, sig: signApproval(signingKey, { id: approvalId, approver, expires: at }) };
}

function get(fields: Record<string, string | number>, id = approvalId): ApprovalRequest {
  const query = new URLSearchParams(
    Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  return { method: 'GET', id, path: `/approvals/${id}`, query, contentType: undefined, body: '' };
}

function post(fields: Record<string, string | number>, id = approvalId): ApprovalRequest {
  const body = new URLSearchParams(
    Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
  return {
    method: 'POST',
    id,
    path: `/approvals/${id}`,
    query: '',
    contentType: 'application/x-www-form-urlencoded',
    body,
  };
}

const decisionCalls = () => [
  ...sfnMock.commandCalls(SendTaskSuccessCommand),
  ...sfnMock.commandCalls(SendTaskFailureCommand),
];

beforeEach(() => {
  store = mockS3Store();
  save(record());
  spent = new Set();
  sfnMock.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
  // A task token works once, as Step Functions has it: the second use is TaskTimedOut.
  const useToken = async (input: { taskToken?: string }) => {
    if (spent.has(input.taskToken!)) throw named('TaskTimedOut', 'Task Timed Out');
    spent.add(input.taskToken!);
    return {};
  };
  sfnMock.on(SendTaskSuccessCommand).callsFake(useToken);
  sfnMock.on(SendTaskFailureCommand).callsFake(useToken);
});

afterEach(() => {
  sfnMock.reset();
  store.mock.restore();
});

describe('GET /approvals/{id}', () => {
  it('shows what ships and a form carrying the signed fields, with headers that keep the page private', async () => {
    const fields = link();

    const page = await handleApproval(get(fields), deps());

    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Approve acme/api main for production?');
    expect(page.body).toContain(`acme/api@sha256:${'ab'.repeat(32)}`);
    expect(page.body).toContain('11 passed, 0 failed, 1 skipped (12 in all)');
    expect(page.body).toContain('Commits since production (1)');
    expect(page.body).toContain(`<form method="post" action="/approvals/${approvalId}">`);
    expect(page.body).toContain(`<input type="hidden" name="sig" value="${fields.sig}">`);
    expect(page.body).toContain('<html lang="en">');
    expect(page.body).toContain('<meta name="viewport"');
    expect(page.body).toContain('<label for="comment">');
    expect(page.body).not.toMatch(/<script|style="|src=/);
    expect(page.headers).toMatchObject({
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'content-type': 'text/html; charset=utf-8',
    });
    expect(page.headers['content-security-policy']).toMatch(
      /^default-src 'none'; style-src 'sha256-[^']+'; form-action 'self'/,
    );
  });

  it('never decides anything, however often it is opened (mail scanners open every link)', async () => {
    for (let i = 0; i < 3; i++) expect((await handleApproval(get(link()), deps())).statusCode).toBe(200);

    expect(decisionCalls()).toHaveLength(0);
    expect(stored().status).toBe('pending');
  });

  it('escapes what the push wrote, so a commit message cannot inject markup', async () => {
    save(record({ summary: { ...record().summary, headline: '<img src=x onerror=alert(1)> & "quotes"' } }));

    const page = await handleApproval(get(link()), deps());

    expect(page.body).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;');
    expect(page.body).not.toContain('<img');
  });

  it('answers 403 to a link whose approver, expiry or id was changed', async () => {
    const fields = link();
    const altered = [
      get({ ...fields, approver: 'mallory@example.com' }),
      get({ ...fields, expires: fields.expires + 3600 }),
      get(fields, 'BAAAAAAAAAAAAAAAAAAAAA'),
      get(link('alice@example.com', expires, 'another-key')),
    ];

    for (const request of altered) {
      const page = await handleApproval(request, deps());
      expect(page.statusCode).toBe(403);
      expect(page.body).toContain('This link is not valid');
    }
  });

  it('binds the link to its approver: a signed link for someone not asked is refused', async () => {
    const page = await handleApproval(get(link('mallory@example.com')), deps());

    expect(page.statusCode).toBe(403);
  });

  it('answers 400 naming the field when the link lost one', async () => {
    const { sig: _sig, ...rest } = link();

    const page = await handleApproval(get(rest), deps());

    expect(page.statusCode).toBe(400);
    expect(page.body).toContain('sig: missing');
  });

  it('answers 410 saying it expired once the expiry has passed', async () => {
    const page = await handleApproval(get(link()), deps({ now: () => expires * 1000 }));

    expect(page.statusCode).toBe(410);
    expect(page.body).toContain('This approval link has expired');
    expect(page.body).toContain('2026-11-30 06:00 UTC');
  });

  it('answers 410 with the execution status when the run stopped waiting', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ status: 'ABORTED', error: 'Superseded', cause: 'a newer push' });

    const page = await handleApproval(get(link()), deps());

    expect(page.statusCode).toBe(410);
    expect(page.body).toContain('The run is no longer waiting for a decision');
    expect(page.body).toContain('ended: aborted (Superseded: a newer push)');
  });
});

describe('POST /approvals/{id}', () => {
  it('approves with SendTaskSuccess carrying decision, approver, comment and time, and records it', async () => {
    const page = await handleApproval(post({ ...link(), decision: 'approve', comment: ' ship it ' }), deps());

    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Approved');
    const calls = sfnMock.commandCalls(SendTaskSuccessCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.taskToken).toBe(record().taskToken);
    expect(JSON.parse(calls[0]!.args[0].input.output!)).toEqual({
      decision: 'approve',
      approver: 'alice@example.com',
      comment: 'ship it',
      decidedAt: '2026-11-30T05:30:00.000Z',
    });
    expect(stored()).toMatchObject({ status: 'approved', decision: { approver: 'alice@example.com' } });
  });

  it('rejects with SendTaskFailure ApprovalRejectedError naming the approver and the comment', async () => {
    const page = await handleApproval(
      post({ ...link('carol@example.com'), decision: 'reject', comment: 'not during the freeze' }),
      deps(),
    );

    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Rejected');
    const calls = sfnMock.commandCalls(SendTaskFailureCommand);
    expect(calls.map((c) => c.args[0].input)).toEqual([
      {
        taskToken: record().taskToken,
        error: 'ApprovalRejectedError',
        cause: 'Rejected by carol@example.com: not during the freeze',
      },
    ]);
    expect(stored()).toMatchObject({ status: 'rejected', decision: { comment: 'not during the freeze' } });
  });

  it('lets exactly one of two simultaneous clicks through; the other gets 410', async () => {
    const [first, second] = await Promise.all([
      handleApproval(post({ ...link(), decision: 'approve' }), deps()),
      handleApproval(post({ ...link('carol@example.com'), decision: 'reject' }), deps()),
    ]);

    expect([first.statusCode, second.statusCode].sort()).toEqual([200, 410]);
    expect(spent.size).toBe(1);
    const winner = first.statusCode === 200 ? 'approved' : 'rejected';
    expect(stored().status).toBe(winner);
  });

  it('answers 410 saying who decided when the request was already decided', async () => {
    await handleApproval(post({ ...link(), decision: 'approve', comment: 'lgtm' }), deps());

    const again = await handleApproval(post({ ...link('carol@example.com'), decision: 'reject' }), deps());

    expect(again.statusCode).toBe(410);
    expect(again.body).toContain('Already decided');
    expect(again.body).toContain('alice@example.com approved this');
    expect(decisionCalls()).toHaveLength(1);
  });

  it('answers 410 when Step Functions says the task is gone (timed out or superseded)', async () => {
    for (const error of ['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist']) {
      sfnMock.on(SendTaskSuccessCommand).rejects(named(error, 'gone'));

      const page = await handleApproval(post({ ...link(), decision: 'approve' }), deps());

      expect(page.statusCode).toBe(410);
      expect(page.body).toContain('no longer waiting');
      expect(stored().status).toBe('pending');
    }
  });

  it('checks the signature again and answers 403 to a forged form', async () => {
    const page = await handleApproval(
      post({ ...link(), approver: 'carol@example.com', decision: 'approve' }),
      deps(),
    );

    expect(page.statusCode).toBe(403);
    expect(decisionCalls()).toHaveLength(0);
  });

  it('answers 410 to a form posted after the link expired', async () => {
    const page = await handleApproval(
      post({ ...link(), decision: 'approve' }),
      deps({ now: () => expires * 1000 + 1 }),
    );

    expect(page.statusCode).toBe(410);
    expect(decisionCalls()).toHaveLength(0);
  });

  it('answers 400 naming the field of a form without a decision or with a bad one', async () => {
    const missing = await handleApproval(post({ ...link() }), deps());
    const wrong = await handleApproval(post({ ...link(), decision: 'maybe' }), deps());
    const long = await handleApproval(
      post({ ...link(), decision: 'approve', comment: 'x'.repeat(2001) }),
      deps(),
    );

    expect(missing.statusCode).toBe(400);
    expect(missing.body).toContain('decision: missing');
    expect(wrong.body).toContain('decision: expected &quot;approve&quot; or &quot;reject&quot;');
    expect(long.body).toContain('comment: at most 2000 characters');
    expect(decisionCalls()).toHaveLength(0);
  });

  it('answers 415 to a body that is not a form', async () => {
    const page = await handleApproval(
      { ...post({ ...link(), decision: 'approve' }), contentType: 'application/json' },
      deps(),
    );

    expect(page.statusCode).toBe(415);
  });
});

describe('the approval API Lambda handler', () => {
  const context = { functionName: 'stepline-approval-api', awsRequestId: 'r' } as unknown as Context;
  const logger = createLogger('test');
  logger.setLogLevel('SILENT');

  function event(method: string, body?: string): APIGatewayProxyEventV2 {
    const fields = link();
    return {
      version: '2.0',
      routeKey: `${method} /approvals/{id}`,
      rawPath: `/approvals/${approvalId}`,
      rawQueryString:
        method === 'GET'
          ? new URLSearchParams({ ...fields, expires: String(fields.expires) }).toString()
          : '',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      pathParameters: { id: approvalId },
      requestContext: { http: { method, path: `/approvals/${approvalId}` } },
      isBase64Encoded: body !== undefined,
      ...(body !== undefined ? { body: Buffer.from(body).toString('base64') } : {}),
    } as unknown as APIGatewayProxyEventV2;
  }

  it('reads a base64 form body as API Gateway passes it and decides', async () => {
    const handler = createApprovalApiHandler({ ...deps(), logger });
    const fields = link();
    const body = new URLSearchParams({
      ...fields,
      expires: String(fields.expires),
      decision: 'approve',
      comment: '',
    });

    const result = await handler(event('POST', body.toString()), context);

    expect(result.statusCode).toBe(200);
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('answers 503 with a page, deciding nothing, when the record cannot be read', async () => {
    const handler = createApprovalApiHandler({
      ...deps({ s3: { send: async () => Promise.reject(new Error('S3 is down')) } as unknown as S3Client }),
      logger,
    });

    const result = await handler(event('GET'), context);

    expect(result.statusCode).toBe(503);
    expect(result.headers?.['cache-control']).toBe('no-store');
  });
});
