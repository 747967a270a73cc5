import { DescribeServicesCommand, DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommitLister } from '#functions/request-approval/commits.ts';
import {
  handleApprovalTask,
  notifyApprovalOutcome,
  type RequestApprovalDeps,
  requestApproval,
} from '#functions/request-approval/request-approval.ts';
import { parseApprovalLink, verifyApproval } from '#shared/approval/link.ts';
import { type ApprovalRecord, approvalKey } from '#shared/approval/record.ts';
import { ApprovalRequestError, TaskInputError } from '#shared/errors.ts';
import { approvalId, approvalInput, config, head, previous, push, run } from './fixtures.ts';
import { mockS3Store, named, silentLogger } from './helpers.ts';

const key = 'signing-key';
const now = Date.parse('2026-11-30T05:00:00Z');
const sesMock = mockClient(SESv2Client);
const ecsMock = mockClient(ECSClient);
let store: ReturnType<typeof mockS3Store>;
let listed: Array<{ base: string | undefined; head: string }>;

const lister: CommitLister = {
  async list({ base, head: to }) {
    listed.push({ base, head: to });
    return {
      commits: [
        { id: head, message: 'Fix the login redirect', author: { name: 'Bob Builder' } },
        { id: 'c0ffee0000000000000000000000000000000009', message: 'Add a test', author: { name: 'Dana' } },
      ],
      total: 2,
      source: 'GitHub compare',
    };
  },
};

function deps(overrides: Partial<RequestApprovalDeps> = {}): RequestApprovalDeps {
  return {
    s3: store.client,
    bucket: 'artifacts',
    ses: new SESv2Client({ region: 'eu-west-1' }),
    ecs: new ECSClient({ region: 'eu-west-1' }),
    config: config(),
    commits: lister,
    signingKey: async () => key,
    approvalBaseUrl: () => 'https://approvals.acme.example',
    executionLink: (r) => ({ url: `https://console.example/${r.name}` }),
    logger: silentLogger,
    now: () => now,
    newId: () => approvalId,
    ...overrides,
  };
}

function productionRuns(commit: string | undefined) {
  ecsMock.on(DescribeServicesCommand).resolves({
    services: [
      {
        serviceName: 'api-production',
        status: 'ACTIVE',
        taskDefinition: 'arn:aws:ecs:eu-west-1:1:task-definition/api:7',
      },
    ],
  });
  ecsMock.on(DescribeTaskDefinitionCommand).resolves({
    taskDefinition: {},
    tags: commit ? [{ key: 'stepline:commit', value: commit }] : [],
  });
}

const emails = () =>
  sesMock.commandCalls(SendEmailCommand).map((call) => {
    const input = call.args[0].input;
    return {
      from: input.FromEmailAddress,
      to: input.Destination?.ToAddresses,
      subject: input.Content?.Simple?.Subject?.Data ?? '',
      text: input.Content?.Simple?.Body?.Text?.Data ?? '',
      html: input.Content?.Simple?.Body?.Html?.Data ?? '',
    };
  });

beforeEach(() => {
  store = mockS3Store();
  listed = [];
  sesMock.on(SendEmailCommand).resolves({ MessageId: 'm-1' });
  productionRuns(previous);
});

afterEach(() => {
  sesMock.reset();
  ecsMock.reset();
  store.mock.restore();
});

describe('RequestApproval', () => {
  it('keeps the task token in approvals/{id}.json and out of every email', async () => {
    const result = await requestApproval(approvalInput(), deps());

    const saved = JSON.parse(store.objects.get(approvalKey(approvalId))!) as ApprovalRecord;
    expect(result).toEqual({
      approvalId,
      approvers: ['alice@example.com', 'carol@example.com'],
      expiresAt: '2026-11-30T06:00:00.000Z',
    });
    expect(saved).toMatchObject({
      id: approvalId,
      taskToken: approvalInput().taskToken,
      executionArn: run.executionArn,
      repository: 'acme/api',
      approvers: ['alice@example.com', 'carol@example.com'],
      expiresAt: '2026-11-30T06:00:00.000Z',
      status: 'pending',
    });
    for (const email of emails()) {
      expect(email.text).not.toContain(approvalInput().taskToken);
      expect(email.html).not.toContain(approvalInput().taskToken);
    }
  });

  it('sends each approver their own email from emailFrom, with a link that verifies for them alone', async () => {
    await requestApproval(approvalInput(), deps());

    const sent = emails();
    expect(sent.map((e) => e.to)).toEqual([['alice@example.com'], ['carol@example.com']]);
    expect(sent.every((e) => e.from === 'stepline@acme.example')).toBe(true);
    for (const email of sent) {
      const url = email.text.match(/https:\/\/approvals\.acme\.example\/approvals\/\S+/)![0];
      const link = parseApprovalLink(url)!;
      expect(link.approver).toBe(email.to![0]);
      expect(link.expires).toBe(Date.parse('2026-11-30T06:00:00Z') / 1000);
      expect(verifyApproval(key, link, link.sig)).toBe(true);
      expect(email.html).toContain(url.replaceAll('&', '&amp;'));
    }
  });

  it('says what ships: repository, branch, commits since production, digest, tests, staging, pusher, expiry, execution', async () => {
    await requestApproval(approvalInput(), deps());

    const { subject, text, html } = emails()[0]!;
    expect(subject).toBe('Approve production: acme/api main @ c0ffee000000');
    for (const expected of [
      'Repository:     acme/api (github)',
      'Branch:         main',
      'Pushed by:      bob <bob@example.com>',
      `Image:          123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/api@sha256:${'ab'.repeat(32)}`,
      'Tests:          11 passed, 0 failed, 1 skipped (12 in all)',
      'Staging:        rolled out to api-staging in apps — https://staging.acme.example',
      'Production now: runs c0ffee000000 (api-production)',
      'Execution:      https://console.example/github-delivery-1',
      'Link expires:   2026-11-30 06:00 UTC',
      'Commits since production (2):',
      'c0ffee000000  Fix the login redirect — Bob Builder',
      'Add a test — Dana',
    ])
      expect(text).toContain(expected);
    expect(listed).toEqual([{ base: previous, head }]);
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('Commits since production (2)');
  });

  it('says "first production deployment" when production has never run a Stepline deployment', async () => {
    ecsMock.on(DescribeServicesCommand).resolves({ services: [], failures: [{ reason: 'MISSING' }] });

    await requestApproval(approvalInput(), deps());

    const { text } = emails()[0]!;
    expect(text).toContain('Production now: first production deployment (api-production)');
    expect(text).toContain('First production deployment');
    expect(listed).toEqual([{ base: undefined, head }]);
  });

  it("falls back to the push's own commits, and says so, when the compare cannot be listed", async () => {
    const failing: CommitLister = {
      list: async () => Promise.reject(new Error('GET https://api.github.com/… answered 404 Not Found')),
    };

    await requestApproval(approvalInput(), deps({ commits: failing }));

    const { text } = emails()[0]!;
    expect(text).toContain('Commits of this push (1):');
    expect(text).toContain('could not be listed (GET https://api.github.com/… answered 404 Not Found)');
  });

  it("says production's commit is unknown when ECS cannot be asked", async () => {
    ecsMock.on(DescribeServicesCommand).rejects(named('AccessDeniedException', 'not allowed'));

    await requestApproval(approvalInput(), deps());

    const { text } = emails()[0]!;
    expect(text).toContain(
      'Production now: unknown (api-production): asking ECS what production runs failed: AccessDeniedException',
    );
    expect(text).toContain("What production runs is unknown, so these are only the push's own commits.");
  });

  it('refuses with ApprovalRequestError naming the config path when nobody may approve', async () => {
    const promise = requestApproval(approvalInput(), deps({ config: config({ approvers: [] }) }));

    await expect(promise).rejects.toThrow(ApprovalRequestError);
    await expect(promise).rejects.toThrow('repositories[0].approvers');
    expect(emails()).toHaveLength(0);
  });

  it('fails with ApprovalRequestError when SES refuses the email', async () => {
    sesMock.on(SendEmailCommand).rejects(named('MessageRejected', 'Email address is not verified.'));

    await expect(requestApproval(approvalInput(), deps())).rejects.toThrow(
      /SES refused the email from stepline@acme.example to alice@example.com: MessageRejected/,
    );
  });

  it('refuses input without a task token with TaskInputError naming the field', async () => {
    const { taskToken: _token, ...input } = approvalInput();

    await expect(requestApproval(input, deps())).rejects.toThrow(TaskInputError);
    await expect(requestApproval(input, deps())).rejects.toThrow('taskToken');
  });
});

describe('NotifyApprovalOutcome', () => {
  const outcome = (failure: { Error: string; Cause: string }) => ({
    notify: 'approval-outcome',
    run,
    push,
    image: approvalInput().image,
    failure,
  });

  it('emails the pusher and the notification list that production was rejected, by whom and why', async () => {
    const result = await handleApprovalTask(
      outcome({
        Error: 'ApprovalRejectedError',
        Cause: 'Rejected by alice@example.com: not during the freeze',
      }),
      deps(),
    );

    expect(result).toEqual({ notified: ['bob@example.com', 'team@acme.example'] });
    const sent = emails();
    expect(sent.map((e) => e.to)).toEqual([['bob@example.com'], ['team@acme.example']]);
    expect(sent[0]!.subject).toBe('Production rejected: acme/api main @ c0ffee000000');
    expect(sent[0]!.text).toContain('Rejected by alice@example.com: not during the freeze.');
  });

  it('says the request expired when nobody decided in time', async () => {
    await notifyApprovalOutcome(outcome({ Error: 'States.Timeout', Cause: 'task timed out' }), deps());

    expect(emails()[0]!.subject).toBe('Production expired: acme/api main @ c0ffee000000');
    expect(emails()[0]!.text).toContain('Nobody approved it before the approval request expired.');
  });

  it('sends nothing, and says so, when nobody is there to tell', async () => {
    const quiet = { ...push, pusher: { name: 'bob' } };
    const cfg = { ...config(), notificationEmails: [] };

    const result = await notifyApprovalOutcome(
      { ...outcome({ Error: 'States.Timeout', Cause: '' }), push: quiet },
      deps({ config: cfg }),
    );

    expect(result).toEqual({ notified: [] });
    expect(emails()).toHaveLength(0);
  });
});
