import { readFile } from 'node:fs/promises';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import {
  approveCommand,
  approveFromOutbox,
  findApprovalLinks,
  submitApproval,
} from '#local/commands/approve.ts';
import { readApprovalRecord } from '#shared/approval/record.ts';
import { type ApprovalHarness, emailsSent, startApprovalHarness } from './harness.ts';

let harness: ApprovalHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const statesOf = (h: ApprovalHarness, arn: string) =>
  h.engine
    .getExecutionHistory(arn, { maxResults: 1000 })
    .events.filter((e) => e.type.endsWith('StateEntered'))
    .map((e) => (e as { stateEnteredEventDetails?: { name?: string } }).stateEnteredEventDetails?.name);

describe('approval on the local runtime pieces', () => {
  it('emails each approver an .eml in the outbox, and an approval through the local server lets the run reach production', async () => {
    harness = await startApprovalHarness();
    const emails = emailsSent(harness.ses, 2);
    const arn = await harness.start();

    const sent = await emails;
    const links = await findApprovalLinks(harness.outboxDir);
    const { outcome } = await approveFromOutbox({
      outboxDir: harness.outboxDir,
      decision: 'approve',
      comment: 'ship it',
    });
    const final = await harness.engine.waitForExecution(arn);

    expect(sent.map((e) => e.to)).toEqual([['alice@example.com'], ['carol@example.com']]);
    const parsed = await simpleParser(await readFile(sent[0]!.path));
    expect(parsed.subject).toMatch(/^Approve production: local\/hello main @ [0-9a-f]{12}$/);
    expect(parsed.text).toContain(
      'Production now: unknown (hello-production): asking ECS what production runs failed',
    );
    expect(parsed.text).toContain('npx stepline executions show github-delivery-1');
    expect(links.map((l) => l.approver)).toEqual(['alice@example.com', 'carol@example.com']);
    expect(links.every((l) => l.url.startsWith(`${harness!.server.url}/approvals/${links[0]!.id}?`))).toBe(
      true,
    );
    expect(outcome).toMatchObject({ status: 200, decided: true });
    expect(outcome.title).toMatch(/^Approved: local\/hello main @ /);
    expect(final.status).toBe('SUCCEEDED');
    expect(JSON.parse(final.output!).approval).toMatchObject({
      decision: 'approve',
      approver: 'alice@example.com',
      comment: 'ship it',
    });
    expect(statesOf(harness, arn)).toContain('CheckProduction');
    const record = await readApprovalRecord(harness.s3.client, harness.s3.bucket, links[0]!.id);
    expect(record).toMatchObject({ status: 'approved', decision: { approver: 'alice@example.com' } });
  });

  it('rejects through `stepline approve ID --reject --as`, and the pusher and the team are told why', async () => {
    harness = await startApprovalHarness();
    const asked = emailsSent(harness.ses, 2);
    const arn = await harness.start();
    const [first] = await asked;
    const id = (await findApprovalLinks(harness.outboxDir))[0]!.id;
    const told = emailsSent(harness.ses, 2);
    const lines: string[] = [];

    const code = await approveCommand({
      target: id,
      reject: true,
      comment: 'not before the freeze ends',
      as: 'carol@example.com',
      dataDir: harness.dataDir,
      write: (line) => lines.push(line),
    });
    const final = await harness.engine.waitForExecution(arn);
    const notices = await told;

    expect(first).toBeDefined();
    expect(code).toBe(0);
    expect(lines).toEqual([
      expect.stringMatching(/^Rejected: local\/hello main @ [0-9a-f]{12}$/),
      '  Rejected by carol@example.com',
      expect.stringContaining('The run stops here'),
      '  Your comment: not before the freeze ends',
      expect.stringContaining('Execution: npx stepline executions show'),
    ]);
    expect(final).toMatchObject({
      status: 'FAILED',
      error: 'ApprovalRejectedError',
      cause: 'Rejected by carol@example.com: not before the freeze ends',
    });
    expect(statesOf(harness, arn).slice(-4)).toEqual([
      'NotifyApprovalOutcome',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(notices.map((n) => n.to)).toEqual([['pat@example.com'], ['team@example.com']]);
    expect(notices[0]!.subject).toMatch(/^Production rejected: local\/hello main @ /);
    const text = (await simpleParser(await readFile(notices[0]!.path))).text ?? '';
    expect(text).toContain('Rejected by carol@example.com: not before the freeze ends.');
  });

  it('lets exactly one of two simultaneous clicks decide, through the local server and engine', async () => {
    harness = await startApprovalHarness();
    const asked = emailsSent(harness.ses, 2);
    const arn = await harness.start();
    await asked;
    const [alice, carol] = await findApprovalLinks(harness.outboxDir);

    const outcomes = await Promise.all([
      submitApproval(alice!.url, { decision: 'approve' }),
      submitApproval(carol!.url, { decision: 'reject' }),
    ]);
    const final = await harness.engine.waitForExecution(arn);

    expect(outcomes.map((o) => o.status).sort()).toEqual([200, 410]);
    const won = outcomes.find((o) => o.decided)!;
    expect(final.status).toBe(won.title.startsWith('Approved') ? 'SUCCEEDED' : 'FAILED');
    expect((await submitApproval(alice!.url, { decision: 'approve' })).status).toBe(410);
  });

  it('times out with States.Timeout, tells the pusher it expired, spends the token and answers 410 to the link', async () => {
    harness = await startApprovalHarness({ approvalTimeoutSeconds: 1 });
    const asked = emailsSent(harness.ses, 2);
    const arn = await harness.start();
    await asked;
    const told = emailsSent(harness.ses, 2);
    const [link] = await findApprovalLinks(harness.outboxDir);

    const final = await harness.engine.waitForExecution(arn);
    const notices = await told;
    const record = await readApprovalRecord(harness.s3.client, harness.s3.bucket, link!.id);

    expect(final).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    expect(statesOf(harness, arn).slice(-4)).toEqual([
      'NotifyApprovalOutcome',
      'ReportFailure',
      'LeaveLaneAfterFailure',
      'PipelineFailed',
    ]);
    expect(notices[0]!.subject).toMatch(/^Production expired: /);
    expect(() => harness!.engine.sendTaskSuccess(record!.taskToken, '{}')).toThrow(/Task Timed Out/);
    const late = await submitApproval(link!.url, { decision: 'approve' });
    expect(late.status).toBe(410);
    expect(late.title).toBe('This approval link has expired');
  });

  it('answers 403 to a link whose signature was altered, and decides nothing', async () => {
    harness = await startApprovalHarness();
    const asked = emailsSent(harness.ses, 2);
    const arn = await harness.start();
    await asked;
    const [link] = await findApprovalLinks(harness.outboxDir);
    const forged = link!.url.replace('alice%40example.com', 'mallory%40example.com');

    const outcome = await submitApproval(forged, { decision: 'approve' });

    expect(outcome).toMatchObject({ status: 403, decided: false, title: 'This link is not valid' });
    expect(harness.engine.describeExecution(arn).status).toBe('RUNNING');
  });
});
