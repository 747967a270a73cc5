import { approveFromOutbox, findApprovalLinks, type OutboxApprovalLink } from './approve.ts';
import { printable } from './terminal.ts';

type Write = (line: string) => void;

export interface ApprovalWatchOptions {
  outboxDir: string;
  write: Write;
  /** Decide as the first approver would, through the emailed link's own page and form. */
  autoApprove?: { comment: string } | undefined;
  /** How long to wait for the email after RequestApproval starts. @default 60 s */
  timeoutMs?: number;
}

/**
 * Prints the approval links RequestApproval emails (they are in the outbox, as SES would deliver
 * them) and, when asked, approves through the link exactly as a person would: open the page,
 * submit its form. Links already in the outbox when the watch was made are not this run's.
 */
export async function approvalWatch(options: ApprovalWatchOptions) {
  const known = new Set((await findApprovalLinks(options.outboxDir)).map((link) => link.id));
  return async function onRequestApproval(): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let fresh: OutboxApprovalLink[] = [];
    while (Date.now() < deadline) {
      fresh = (await findApprovalLinks(options.outboxDir)).filter((link) => !known.has(link.id));
      if (fresh.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (fresh.length === 0) {
      options.write(`    no approval email reached ${options.outboxDir} yet`);
      return;
    }
    const id = fresh[0]!.id;
    for (const link of fresh) known.add(link.id);
    options.write(printable(`    approval email (${fresh[0]!.file})`));
    for (const link of fresh.filter((l) => l.id === id))
      options.write(printable(`    ${link.approver}: ${link.url}`));
    options.write(printable(`    decide: npx stepline approve ${id} [--reject] [--comment TEXT]`));
    if (!options.autoApprove) return;
    const { outcome } = await approveFromOutbox({
      outboxDir: options.outboxDir,
      id,
      decision: 'approve',
      comment: options.autoApprove.comment,
    });
    // A decision that went through shows on RequestApproval's own line; only a refusal is news.
    if (!outcome.decided)
      options.write(
        printable(`    the approval page refused (${outcome.status}): ${outcome.title} ${outcome.message}`),
      );
  };
}
