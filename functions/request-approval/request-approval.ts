import type { Logger } from '@aws-lambda-powertools/logger';
import type { ECSClient } from '@aws-sdk/client-ecs';
import type { S3Client } from '@aws-sdk/client-s3';
import { type SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import * as z from 'zod';
import { localConsoleExecutionUrl, RunInfo } from '#functions/report-status/report-status.ts';
import { StageResult } from '#functions/runner/stage-result.ts';
import { approvalLink, newApprovalId } from '#shared/approval/link.ts';
import { type ApprovalRecord, writeApprovalRecord } from '#shared/approval/record.ts';
import type { ApprovalSummary } from '#shared/approval/summary.ts';
import { DeploymentState } from '#shared/deployment.ts';
import { type DeploymentConfig, findRepositoryConfig } from '#shared/deployment-config.ts';
import { ApprovalRequestError, TaskInputError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { PublishedImage } from '#shared/published-image.ts';
import { PushEvent } from '#shared/push-event.ts';
import { type CommitLister, pushCommits } from './commits.ts';
import { approvalEmail, type EmailContent, outcomeEmail } from './email.ts';
import { type ProductionCommit, productionCommit } from './production.ts';

/** RequestApproval's `Payload` (`lambda:invoke.waitForTaskToken`). */
export const RequestApprovalInput = z.object({
  taskToken: z.string().min(1),
  run: RunInfo,
  push: PushEvent,
  image: PublishedImage,
  /** The Test stage's result (`$.test`); only its test counts are read. */
  test: z.object({ tests: StageResult.shape.tests }),
  staging: DeploymentState,
  /** Seconds until the request expires: the state's `TimeoutSecondsPath` value. */
  timeoutSeconds: z.number().int().positive(),
});
export type RequestApprovalInput = z.infer<typeof RequestApprovalInput>;

/** NotifyApprovalOutcome's input: the same function, told that production was not approved. */
export const ApprovalOutcomeInput = z.object({
  notify: z.literal('approval-outcome'),
  run: RunInfo,
  push: PushEvent,
  image: PublishedImage.optional(),
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }),
});
export type ApprovalOutcomeInput = z.infer<typeof ApprovalOutcomeInput>;

/** Where an execution can be looked at: the console on AWS, a command locally. */
export interface ExecutionLink {
  url?: string;
  command?: string;
}

/**
 * Where the local runtime's emails point: the execution's page of the local console when the
 * runtime serves one (its URL without the token), else the command that shows the execution.
 */
export function localExecutionLink(
  run: Pick<RunInfo, 'name'>,
  local: { dataDir: string; consoleUrl?: string | undefined },
): ExecutionLink {
  return local.consoleUrl
    ? { url: localConsoleExecutionUrl(local.consoleUrl, run.name) }
    : { command: `npx stepline executions show ${run.name} --data ${local.dataDir}` };
}

export interface RequestApprovalDeps {
  s3: Pick<S3Client, 'send'>;
  /** Bucket for `approvals/{id}.json` (the artifact bucket). */
  bucket: string;
  ses: Pick<SESv2Client, 'send'>;
  /** Asked what production runs; without it production's commit is reported unknown. */
  ecs?: Pick<ECSClient, 'send'> | undefined;
  config: DeploymentConfig;
  commits: CommitLister;
  /** The HMAC key links are signed with. Never logged. */
  signingKey(): Promise<string>;
  /** The approval API's base URL (`https://…/` on AWS, the local server locally). */
  approvalBaseUrl(): string;
  executionLink(run: RunInfo): ExecutionLink;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** @default Date.now */
  now?: () => number;
  /** @default newApprovalId */
  newId?: () => string;
}

export interface RequestApprovalResult {
  approvalId: string;
  approvers: string[];
  expiresAt: string;
}

export interface ApprovalOutcomeResult {
  notified: string[];
}

function invalid(what: string, error: z.ZodError): TaskInputError {
  return new TaskInputError(`${what} input is invalid:\n${formatZodError(error).join('\n')}`);
}

/**
 * The request-approval Lambda: RequestApproval's payload asks for a decision; NotifyApprovalOutcome's
 * (`notify: "approval-outcome"`) tells people that production was not approved.
 */
export async function handleApprovalTask(
  event: unknown,
  deps: RequestApprovalDeps,
): Promise<RequestApprovalResult | ApprovalOutcomeResult> {
  if (event !== null && typeof event === 'object' && 'notify' in event)
    return notifyApprovalOutcome(event, deps);
  return requestApproval(event, deps);
}

/**
 * RequestApproval: stores the task token in `approvals/{id}.json` and emails each configured
 * approver a summary of what ships with a link signed for that approver alone. The decision comes
 * later, from the approval API (`SendTaskSuccess`/`SendTaskFailure`).
 * @throws TaskInputError, ApprovalRequestError
 */
export async function requestApproval(
  event: unknown,
  deps: RequestApprovalDeps,
): Promise<RequestApprovalResult> {
  const parsed = RequestApprovalInput.safeParse(event);
  if (!parsed.success) throw invalid('RequestApproval', parsed.error);
  const input = parsed.data;
  const { push, run } = input;
  const entry = findRepositoryConfig(deps.config, push.provider, push.repository.fullName);
  const index = entry ? deps.config.repositories.indexOf(entry) : -1;
  if (!entry)
    throw new ApprovalRequestError(
      `${push.provider} repository "${push.repository.fullName}" is not in the deployment configuration, so nobody may approve it`,
    );
  const approvers = [...new Set(entry.approvers)];
  if (approvers.length === 0)
    throw new ApprovalRequestError(
      `nobody is configured to approve production for ${push.repository.fullName}: add email addresses to repositories[${index}].approvers in the deployment configuration`,
    );

  const now = (deps.now ?? Date.now)();
  const expires = Math.floor(now / 1000) + input.timeoutSeconds;
  const expiresAt = new Date(expires * 1000).toISOString();
  const production = await productionCommit(deps.ecs, entry.deploy?.production);
  const changes = await describeChanges(input, production, deps);
  const summary = buildSummary(input, {
    production,
    changes,
    expiresAt,
    deps,
    service: entry.deploy?.production?.service,
  });

  const id = (deps.newId ?? newApprovalId)();
  const record: ApprovalRecord = {
    version: 1,
    id,
    taskToken: input.taskToken,
    executionArn: run.executionArn,
    executionName: run.name,
    provider: push.provider,
    repository: push.repository.fullName,
    approvers,
    createdAt: new Date(now).toISOString(),
    expiresAt,
    summary,
    status: 'pending',
  };
  await writeApprovalRecord(deps.s3, deps.bucket, record);

  const key = await deps.signingKey();
  const base = deps.approvalBaseUrl();
  for (const approver of approvers) {
    const link = approvalLink(base, key, { id, approver, expires });
    await send(deps, deps.config.emailFrom, [approver], approvalEmail(summary, { approver, link }));
  }
  deps.logger.info('approval requested', {
    approvalId: id,
    executionArn: run.executionArn,
    approvers,
    expiresAt,
  });
  return { approvalId: id, approvers, expiresAt };
}

/**
 * NotifyApprovalOutcome: emails the pusher (when the push names their address) and the deployment's
 * `notificationEmails` that production was not approved, and why.
 * @throws TaskInputError, ApprovalRequestError
 */
export async function notifyApprovalOutcome(
  event: unknown,
  deps: Pick<RequestApprovalDeps, 'ses' | 'config' | 'executionLink' | 'logger'>,
): Promise<ApprovalOutcomeResult> {
  const parsed = ApprovalOutcomeInput.safeParse(event);
  if (!parsed.success) throw invalid('NotifyApprovalOutcome', parsed.error);
  const { push, run, image, failure } = parsed.data;
  const recipients = [
    ...new Set([...(push.pusher.email ? [push.pusher.email] : []), ...deps.config.notificationEmails]),
  ];
  if (recipients.length === 0) {
    deps.logger.info(
      'approval outcome not emailed: the pusher has no address and notificationEmails is empty',
      {
        executionArn: run.executionArn,
      },
    );
    return { notified: [] };
  }
  const content = outcomeEmail({
    push,
    executionName: run.name,
    execution: deps.executionLink(run),
    imageUri: image?.uri,
    failure,
  });
  for (const recipient of recipients) await send(deps, deps.config.emailFrom, [recipient], content);
  deps.logger.info('approval outcome emailed', {
    executionArn: run.executionArn,
    recipients,
    error: failure.Error,
  });
  return { notified: recipients };
}

async function send(
  deps: Pick<RequestApprovalDeps, 'ses'>,
  from: string,
  to: string[],
  content: EmailContent,
): Promise<void> {
  try {
    await deps.ses.send(
      new SendEmailCommand({
        FromEmailAddress: from,
        Destination: { ToAddresses: to },
        Content: {
          Simple: {
            Subject: { Data: content.subject, Charset: 'UTF-8' },
            Body: {
              Text: { Data: content.text, Charset: 'UTF-8' },
              Html: { Data: content.html, Charset: 'UTF-8' },
            },
          },
        },
      }),
    );
  } catch (error) {
    throw new ApprovalRequestError(
      `SES refused the email from ${from} to ${to.join(', ')}: ${(error as Error).name}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function describeChanges(
  input: RequestApprovalInput,
  production: ProductionCommit,
  deps: Pick<RequestApprovalDeps, 'commits' | 'logger'>,
): Promise<ApprovalSummary['changes']> {
  const { push } = input;
  const head = push.after;
  const own = () => pushCommits(push);
  if (production.state === 'deployed' && production.commit === head)
    return { title: 'No new commits: production already runs this commit', commits: [], total: 0 };
  if (production.state === 'unknown') {
    const range = own();
    return {
      title: `Commits of this push (${range.total})`,
      commits: range.commits,
      total: range.total,
      note: "What production runs is unknown, so these are only the push's own commits.",
    };
  }
  const base = production.state === 'deployed' ? production.commit : undefined;
  try {
    const range = await deps.commits.list({ push, base, head });
    if (base === undefined)
      return {
        title:
          range.source === 'the push'
            ? 'First production deployment — the commits of this push'
            : 'First production deployment — the latest commits',
        commits: range.commits,
        total: range.total,
      };
    return { title: `Commits since production (${range.total})`, commits: range.commits, total: range.total };
  } catch (error) {
    deps.logger.warn('listing the commits since production failed; showing the push commits', {
      base,
      head,
      error: (error as Error).message,
    });
    const range = own();
    return {
      title: `Commits of this push (${range.total})`,
      commits: range.commits,
      total: range.total,
      note: `The commits since production (${base?.slice(0, 12) ?? 'never deployed'}) could not be listed (${(error as Error).message}), so these are only the push's own commits.`,
    };
  }
}

function buildSummary(
  input: RequestApprovalInput,
  parts: {
    production: ProductionCommit;
    changes: ApprovalSummary['changes'];
    expiresAt: string;
    deps: Pick<RequestApprovalDeps, 'executionLink'>;
    service: string | undefined;
  },
): ApprovalSummary {
  const { push, image, staging, test, run } = input;
  const { production } = parts;
  const tests = test.tests;
  const link = parts.deps.executionLink(run);
  return {
    provider: push.provider,
    repository: push.repository.fullName,
    ...(push.repository.htmlUrl ? { repositoryUrl: push.repository.htmlUrl } : {}),
    refType: push.refType,
    refName: push.refName,
    commit: push.after,
    ...(push.headCommit.url ? { commitUrl: push.headCommit.url } : {}),
    headline: (push.headCommit.message.split('\n', 1)[0] ?? '').trim().slice(0, 200),
    pushedBy: push.pusher,
    image: { uri: image.uri, digest: image.digest, repository: image.repository },
    ...(tests
      ? {
          tests: {
            total: tests.total,
            passed: tests.passed,
            failed: tests.failed,
            errors: tests.errors,
            skipped: tests.skipped,
            ...(tests.note ? { note: tests.note } : {}),
          },
        }
      : {}),
    staging: {
      outcome: staging.outcome,
      rolloutState: staging.rolloutState,
      cluster: staging.cluster,
      service: staging.service,
      ...(staging.url ? { url: staging.url } : {}),
    },
    production: {
      state: production.state === 'deployed' && production.commit === push.after ? 'same' : production.state,
      ...(production.state === 'deployed' ? { commit: production.commit } : {}),
      ...(parts.service ? { service: parts.service } : {}),
      ...('note' in production && production.note ? { note: production.note } : {}),
    },
    changes: parts.changes,
    execution: {
      name: run.name,
      arn: run.executionArn,
      ...(link.url ? { url: link.url } : {}),
      ...(link.command ? { command: link.command } : {}),
    },
    expiresAt: parts.expiresAt,
  };
}
