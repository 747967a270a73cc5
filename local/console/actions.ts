import { randomUUID } from 'node:crypto';
import { localApprovalSigningKey } from '#local/approvals.ts';
import { submitApproval } from '#local/commands/approve.ts';
import { type RollbackCommandOptions, rollbackCommand } from '#local/commands/rollback.ts';
import { approvalLink } from '#shared/approval/link.ts';
import type { ActionResult, RollbackJob } from './api-types.ts';

/** A decision on one approval request, as the console's execution page sends it. */
export interface ApprovalDecisionRequest {
  id: string;
  approver: string;
  approvers: readonly string[];
  /** When the request expires (ISO): the link's expiry. */
  expiresAt: string | null;
  decision: 'approve' | 'reject';
  comment: string;
}

/**
 * Decides an approval from the console as the emailed link would: signs the link of `approver`
 * (one of the request's approvers) with the data directory's approval key, opens its page on the
 * runtime's approval endpoint and submits the page's form. Every check of the approval API
 * applies (approver, expiry, single use, execution still waiting).
 */
export async function decideApproval(
  options: ApprovalDecisionRequest & {
    dataDir: string;
    /** The server that serves `/approvals/{id}` (the local API Gateway). */
    approvalBaseUrl: string;
  },
): Promise<ActionResult & { status: number }> {
  if (!options.approvers.some((a) => a.toLowerCase() === options.approver.toLowerCase()))
    return {
      ok: false,
      status: 400,
      message: `${options.approver} is not an approver of this request (approvers: ${options.approvers.join(', ')})`,
    };
  const expires = Math.floor(Date.parse(options.expiresAt ?? '') / 1000);
  if (!Number.isFinite(expires))
    return { ok: false, status: 409, message: 'the approval request has no expiry on record' };
  const link = approvalLink(options.approvalBaseUrl, localApprovalSigningKey(options.dataDir), {
    id: options.id,
    approver: options.approver,
    expires,
  });
  const outcome = await submitApproval(link, { decision: options.decision, comment: options.comment });
  return {
    ok: outcome.decided,
    status: outcome.decided ? 200 : outcome.status === 200 ? 409 : outcome.status,
    // The page's heading says what happened; when nothing was decided, its first paragraph says why.
    message: outcome.decided
      ? outcome.title
      : [outcome.title, outcome.paragraphs[0]].filter(Boolean).join(': '),
  };
}

/**
 * Rollbacks started from the console: each runs `stepline rollback`'s code in this process and
 * keeps the lines it prints, so the services page can show them while it runs and after.
 */
export class RollbackJobs {
  private readonly jobs: RollbackJob[] = [];

  constructor(
    private readonly options: Omit<RollbackCommandOptions, 'environment' | 'to' | 'write' | 'fail'>,
    private readonly onChange: () => void = () => {},
  ) {}

  list(): RollbackJob[] {
    return this.jobs.map((job) => ({ ...job, lines: [...job.lines] }));
  }

  /** Starts a rollback unless one of the environment runs; returns the job. */
  start(environment: 'staging' | 'production', to: string | undefined): RollbackJob | undefined {
    if (this.jobs.some((job) => job.environment === environment && job.status === 'running'))
      return undefined;
    const job: RollbackJob = {
      id: randomUUID(),
      environment,
      status: 'running',
      lines: [],
      startedAt: new Date().toISOString(),
    };
    this.jobs.unshift(job);
    this.jobs.splice(20);
    const write = (line: string) => {
      job.lines.push(line);
      this.onChange();
    };
    rollbackCommand({ ...this.options, environment, ...(to ? { to } : {}), write, fail: write })
      .then(
        (code) => {
          job.status = code === 0 ? 'succeeded' : 'failed';
        },
        (error: unknown) => {
          job.lines.push(`${(error as Error).name}: ${(error as Error).message}`);
          job.status = 'failed';
        },
      )
      .finally(() => this.onChange());
    this.onChange();
    return job;
  }
}
