import {
  type ApprovalSummary,
  approvalSubject,
  describePerson,
  describeRef,
  escapeHtml,
  formatUtc,
  inlineStyling,
  summaryHtml,
  summaryText,
} from '#shared/approval/summary.ts';
import type { PushEvent } from '#shared/push-event.ts';

/** An email as SES `SendEmail` takes it in `Content.Simple`. */
export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

function document(title: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body style="margin:0;padding:0;background:#f4f5f7;">',
    '<div style="max-width:640px;margin:0 auto;padding:24px 16px;font-family:-apple-system,BlinkMacSystemFont,Segoe UI,Roboto,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.5;color:#1b1b1b;background:#ffffff;">',
    body,
    '</div></body></html>',
  ].join('\n');
}

/** The email one approver gets: what ships, and their own link. */
export function approvalEmail(
  summary: ApprovalSummary,
  options: { approver: string; link: string },
): EmailContent {
  const subject = approvalSubject(summary);
  const expires = formatUtc(summary.expiresAt);
  const text = [
    `${summary.repository} ${describeRef(summary)} is ready for production, and Stepline asks you (${options.approver}) to approve or reject it.`,
    '',
    `Review and decide (this link is yours alone and works until ${expires}):`,
    '',
    options.link,
    '',
    summaryText(summary),
    '',
    'Opening the link decides nothing: the page shows this summary again and asks you to approve or reject.',
    'If nobody decides before the link expires, the run fails and production stays as it is.',
    '',
  ].join('\n');
  const html = document(
    subject,
    [
      `<h1 style="font-size:20px;margin:0 0 12px;">Approve ${escapeHtml(summary.repository)} ${escapeHtml(describeRef(summary))} for production?</h1>`,
      `<p style="margin:0 0 16px;">Stepline asks you (${escapeHtml(options.approver)}) to approve or reject this rollout to production.</p>`,
      `<p style="margin:0 0 8px;"><a href="${escapeHtml(options.link)}" style="display:inline-block;padding:12px 20px;background:#0b57d0;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;">Review and decide</a></p>`,
      `<p style="margin:0 0 16px;color:#555;font-size:13px;">This link is yours alone and works until ${escapeHtml(expires)}. Opening it decides nothing.</p>`,
      summaryHtml(summary, inlineStyling),
    ].join('\n'),
  );
  return { subject, text, html };
}

/** The failure a Catch put at `$.failure`. */
export interface CaughtFailure {
  Error?: string | undefined;
  Cause?: string | undefined;
}

/** Why production was not approved, in one sentence. */
export function describeOutcome(failure: CaughtFailure): string {
  if (failure.Error === 'ApprovalRejectedError')
    return failure.Cause ? `${failure.Cause.replace(/\.$/, '')}.` : 'An approver rejected it.';
  if (failure.Error === 'States.Timeout') return 'Nobody approved it before the approval request expired.';
  return `The approval ended with ${failure.Error ?? 'an error'}${failure.Cause ? `: ${failure.Cause}` : ''}.`;
}

/** The email to the pusher and the notification list when production was not approved. */
export function outcomeEmail(options: {
  push: PushEvent;
  executionName: string;
  execution: { url?: string | undefined; command?: string | undefined };
  imageUri?: string | undefined;
  failure: CaughtFailure;
}): EmailContent {
  const { push } = options;
  const ref = push.refType === 'tag' ? `tag ${push.refName}` : push.refName;
  const what = `${push.repository.fullName} ${ref} @ ${push.after.slice(0, 12)}`;
  const verdict = options.failure.Error === 'States.Timeout' ? 'expired' : 'rejected';
  const subject = `Production ${verdict}: ${what}`;
  const reason = describeOutcome(options.failure);
  const where = options.execution.url ?? options.execution.command ?? options.executionName;
  const rows: Array<[string, string]> = [
    ['Repository', push.repository.fullName],
    [push.refType === 'tag' ? 'Tag' : 'Branch', push.refName],
    [
      'Commit',
      `${push.after.slice(0, 12)} ${(push.headCommit.message.split('\n', 1)[0] ?? '').trim()}`.trim(),
    ],
    ['Pushed by', describePerson(push.pusher)],
    ...(options.imageUri ? [['Image', options.imageUri] as [string, string]] : []),
    ['Execution', where],
  ];
  const text = [
    `${what} did not go to production. ${reason}`,
    '',
    ...rows.map(([label, value]) => `${`${label}:`.padEnd(12)}${value}`),
    '',
    'Production still runs what it ran before. Push again (or run the pipeline again) to ask for a new approval.',
    '',
  ].join('\n');
  const html = document(
    subject,
    [
      `<h1 style="font-size:20px;margin:0 0 12px;">${escapeHtml(what)} did not go to production</h1>`,
      `<p style="margin:0 0 16px;">${escapeHtml(reason)}</p>`,
      `<dl style="margin:0;">${rows
        .map(
          ([label, value]) =>
            `<dt style="font-weight:600;color:#444;margin-top:8px;">${escapeHtml(label)}</dt><dd style="margin:0;word-break:break-all;">${escapeHtml(value)}</dd>`,
        )
        .join('')}</dl>`,
      '<p style="margin:16px 0 0;color:#555;font-size:13px;">Production still runs what it ran before. Push again (or run the pipeline again) to ask for a new approval.</p>',
    ].join('\n'),
  );
  return { subject, text, html };
}
