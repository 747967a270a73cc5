import { afterEach, describe, expect, it } from 'vitest';
import { findApprovalLinks, submitApproval } from '#local/commands/approve.ts';
import { type ApprovalHarness, emailsSent, startApprovalHarness } from './harness.ts';

let harness: ApprovalHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** What `stepline serve` redrives at its start: executions a stop caught waiting for an approval. */
const waitedForApproval = ({ stateName }: { stateName: string }) => stateName === 'RequestApproval';

describe('an approval that a serve restart interrupted', () => {
  it('is asked again after the restart: the run is redriven at RequestApproval, approvers get fresh links, the old links decide nothing', async () => {
    harness = await startApprovalHarness();
    const firstEmails = emailsSent(harness.ses, 2);
    const arn = await harness.start();
    await firstEmails;
    const oldLinks = await findApprovalLinks(harness.outboxDir);

    const engine = await harness.restartEngine();
    expect(engine.describeExecution(arn)).toMatchObject({
      status: 'FAILED',
      error: 'Stepline.RuntimeStopped',
    });
    const freshEmails = emailsSent(harness.ses, 2);
    const redriven = await engine.redriveStoppedByRuntime(waitedForApproval);
    const fresh = await freshEmails;

    expect(redriven).toEqual([arn]);
    expect(fresh.map((email) => email.to)).toEqual([['alice@example.com'], ['carol@example.com']]);
    const newLinks = (await findApprovalLinks(harness.outboxDir)).filter(
      (link) => !oldLinks.some((old) => old.url === link.url),
    );
    expect(newLinks.map((link) => link.approver)).toEqual(['alice@example.com', 'carol@example.com']);
    expect(newLinks[0]?.id).not.toBe(oldLinks[0]?.id);

    const stale = await submitApproval(oldLinks[0]!.url, { decision: 'approve' });
    expect(stale.decided).toBe(false);
    expect(engine.describeExecution(arn).status).toBe('RUNNING');

    const approved = await submitApproval(newLinks[0]!.url, {
      decision: 'approve',
      comment: 'after restart',
    });
    const final = await engine.waitForExecution(arn);

    expect(approved).toMatchObject({ status: 200, decided: true });
    expect(final).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    const events = engine.getExecutionHistory(arn, { maxResults: 1000 }).events;
    expect(events.filter((event) => event.type === 'ExecutionRedriven')).toHaveLength(1);
    const entered = events
      .filter((event) => event.type.endsWith('StateEntered'))
      .map((event) => event.stateEnteredEventDetails?.name);
    expect(entered.filter((name) => name === 'RequestApproval')).toHaveLength(2);
    expect(entered.filter((name) => name === 'DeployStaging')).toHaveLength(1);
  }, 60_000);

  it('is not redriven when the stop caught the run in another state', async () => {
    harness = await startApprovalHarness();
    const firstEmails = emailsSent(harness.ses, 2);
    const arn = await harness.start();
    await firstEmails;
    const engine = await harness.restartEngine();

    const redriven = await engine.redriveStoppedByRuntime(({ stateName }) => stateName === 'Build');

    expect(redriven).toEqual([]);
    expect(engine.describeExecution(arn)).toMatchObject({ status: 'FAILED', redriveCount: 0 });
  }, 60_000);
});
