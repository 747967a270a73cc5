import { createHash } from 'node:crypto';
import type { ApprovalDecision } from '#shared/approval/record.ts';
import {
  type ApprovalSummary,
  classStyling,
  describeRef,
  escapeHtml,
  formatUtc,
  summaryHtml,
} from '#shared/approval/summary.ts';

/** An HTTP answer as API Gateway takes it from a Lambda. */
export interface Page {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const css = `
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#eef0f3;color:#1b1b1b;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:42rem;margin:0 auto;padding:1.5rem 1.25rem 2.5rem;background:#fff;min-height:100vh}
@media (min-width:44rem){main{margin:1.5rem auto;min-height:0;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12)}}
.brand{margin:0;font-size:.8rem;letter-spacing:.08em;text-transform:uppercase;color:#555}
h1{font-size:1.45rem;line-height:1.3;margin:.35rem 0 .75rem}
h2{font-size:1.05rem;margin:1.75rem 0 .5rem;padding-bottom:.25rem;border-bottom:1px solid #e2e4e8}
p{margin:0 0 .75rem}
.lead{font-size:1.05rem}
.status{display:inline-block;padding:.15rem .6rem;border-radius:999px;font-size:.85rem;font-weight:600;background:#e8f0fe;color:#0b3d91}
.status.bad{background:#fce8e6;color:#8c1d18}
.status.good{background:#e6f4ea;color:#0d5323}
dl{margin:0;display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.4rem 1rem}
dt{font-weight:600;color:#444}
dd{margin:0;min-width:0;overflow-wrap:anywhere}
@media (max-width:32rem){dl{display:block}dt{margin-top:.6rem}dd{margin-top:.1rem}}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;background:#f4f5f7;padding:.05rem .3rem;border-radius:4px;overflow-wrap:anywhere}
a{color:#0b57d0}
ol.commits{padding-left:1.4rem;margin:0}
li.commit{margin:.35rem 0}
.author,.note{color:#555}
.note{font-size:.9rem}
form{margin-top:2rem;padding-top:1.25rem;border-top:2px solid #e2e4e8}
label{display:block;font-weight:600;margin-bottom:.35rem}
.hint{color:#555;font-size:.9rem;margin:-.1rem 0 .5rem}
textarea{display:block;width:100%;min-height:6rem;padding:.6rem;font:inherit;border:1px solid #8a8f98;border-radius:6px;resize:vertical}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1rem}
button{flex:1 1 12rem;min-height:48px;padding:.75rem 1.25rem;font:inherit;font-weight:700;border-radius:8px;border:2px solid transparent;cursor:pointer}
button.approve{background:#146c2e;color:#fff}
button.reject{background:#fff;color:#a50e0e;border-color:#a50e0e}
button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
footer{margin-top:2rem;color:#555;font-size:.85rem}
`.trim();

const styleHash = createHash('sha256').update(css).digest('base64');

/**
 * Nothing external, nothing inline but the one style block (by its hash): no scripts, no images,
 * no frames, and forms may only post back here.
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  `style-src 'sha256-${styleHash}'`,
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const pageHeaders: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

function page(statusCode: number, title: string, main: string): Page {
  const body = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex, nofollow">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)} · Stepline</title>`,
    `<style>${css}</style>`,
    '</head>',
    '<body>',
    '<main>',
    '<p class="brand">Stepline · production approval</p>',
    main,
    '</main>',
    '</body>',
    '</html>',
  ].join('\n');
  return { statusCode, headers: { ...pageHeaders }, body };
}

const paragraph = (text: string, cls?: string) => `<p${cls ? ` class="${cls}"` : ''}>${escapeHtml(text)}</p>`;

/** The fields the form posts back, exactly as the link carried them. */
export interface FormFields {
  approver: string;
  expires: number;
  sig: string;
}

/** GET: the summary and the form. Nothing is decided by showing it. */
export function decisionPage(summary: ApprovalSummary, fields: FormFields, action: string): Page {
  const title = `Approve ${summary.repository} ${describeRef(summary)} for production?`;
  const hidden = (name: string, value: string) =>
    `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  const main = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="lead">You are deciding as <strong>${escapeHtml(fields.approver)}</strong>. Nothing has been decided yet: this page only asks.</p>`,
    `<p><span class="status">Waiting for a decision</span> until ${escapeHtml(formatUtc(summary.expiresAt))}</p>`,
    `<section aria-label="What ships" class="summary">${summaryHtml(summary, classStyling)}</section>`,
    `<form method="post" action="${escapeHtml(action)}">`,
    hidden('approver', fields.approver),
    hidden('expires', String(fields.expires)),
    hidden('sig', fields.sig),
    '<label for="comment">Comment</label>',
    '<p class="hint" id="comment-hint">Optional. It goes into the run\'s history, and to the pusher if you reject.</p>',
    '<textarea id="comment" name="comment" maxlength="2000" aria-describedby="comment-hint"></textarea>',
    '<div class="actions">',
    '<button type="submit" name="decision" value="approve" class="approve">Approve</button>',
    '<button type="submit" name="decision" value="reject" class="reject">Reject</button>',
    '</div>',
    '</form>',
    '<footer>Approve rolls this image out to production now. Reject stops the run; production keeps what it runs.</footer>',
  ].join('\n');
  return page(200, title, main);
}

/** POST that won: the decision went to the execution. */
export function decidedPage(summary: ApprovalSummary, decision: ApprovalDecision): Page {
  const approved = decision.decision === 'approve';
  const what = `${summary.repository} ${describeRef(summary)} @ ${summary.commit.slice(0, 12)}`;
  const title = approved ? 'Approved' : 'Rejected';
  const main = [
    `<h1>${title}: ${escapeHtml(what)}</h1>`,
    `<p><span class="status ${approved ? 'good' : 'bad'}">${approved ? 'Approved' : 'Rejected'} by ${escapeHtml(decision.approver)}</span></p>`,
    paragraph(
      approved
        ? 'The production rollout starts now. You can close this page.'
        : 'The run stops here and production keeps what it runs. The pusher and the notification list are told.',
      'lead',
    ),
    ...(decision.comment ? [paragraph(`Your comment: ${decision.comment}`)] : []),
    paragraph(
      `Execution: ${summary.execution.url ?? summary.execution.command ?? summary.execution.name}`,
      'note',
    ),
  ].join('\n');
  return page(200, title, main);
}

/** Why a link no longer decides anything (410). */
export type GoneReason =
  | { kind: 'expired'; expiresAt: string }
  | { kind: 'decided'; decision: ApprovalDecision }
  | { kind: 'not-waiting'; execution: string; status: string; error?: string; cause?: string }
  | { kind: 'closed'; execution: string }
  | { kind: 'missing' };

export function gonePage(reason: GoneReason): Page {
  switch (reason.kind) {
    case 'expired':
      return page(
        410,
        'This approval link has expired',
        [
          '<h1>This approval link has expired</h1>',
          paragraph(
            `It worked until ${formatUtc(reason.expiresAt)}. The request timed out without a decision, so the run failed and nothing from it went to production.`,
            'lead',
          ),
          paragraph('To ship this change, push again or re-run the pipeline; a new approval email follows.'),
        ].join('\n'),
      );
    case 'decided': {
      const { decision } = reason;
      const verb = decision.decision === 'approve' ? 'approved' : 'rejected';
      return page(
        410,
        'Already decided',
        [
          '<h1>Already decided</h1>',
          `<p class="lead"><span class="status ${decision.decision === 'approve' ? 'good' : 'bad'}">${escapeHtml(decision.approver)} ${verb} this</span> at ${escapeHtml(formatUtc(decision.decidedAt))}.</p>`,
          ...(decision.comment ? [paragraph(`Comment: ${decision.comment}`)] : []),
          paragraph('An approval link works once; nothing more was done.'),
        ].join('\n'),
      );
    }
    case 'not-waiting': {
      const status = reason.status.toLowerCase().replace('_', ' ');
      const detail = [reason.error, reason.cause].filter(Boolean).join(': ');
      return page(
        410,
        'The run is no longer waiting',
        [
          '<h1>The run is no longer waiting for a decision</h1>',
          paragraph(
            `Its execution ${reason.execution} has ${status === 'running' ? 'moved on' : `ended: ${status}`}${detail ? ` (${detail})` : ''}.`,
            'lead',
          ),
          paragraph('Nothing was decided. Stopped, timed-out or superseded runs cannot be approved.'),
        ].join('\n'),
      );
    }
    case 'closed':
      return page(
        410,
        'The run is no longer waiting',
        [
          '<h1>The run is no longer waiting for a decision</h1>',
          paragraph(
            `The approval request of execution ${reason.execution} has closed: another click decided it a moment ago, or it timed out.`,
            'lead',
          ),
          paragraph('Nothing more was done. Open the execution to see what happened.'),
        ].join('\n'),
      );
    case 'missing':
      return page(
        410,
        'This approval request is gone',
        [
          '<h1>This approval request is gone</h1>',
          paragraph(
            'Its record no longer exists (old requests are cleaned up). Nothing was decided.',
            'lead',
          ),
        ].join('\n'),
      );
  }
}

/** A forged or altered link (403). */
export function forbiddenPage(): Page {
  return page(
    403,
    'This link is not valid',
    [
      '<h1>This link is not valid</h1>',
      paragraph(
        'Its signature does not match: it was changed after Stepline sent it, or Stepline did not make it. Nothing was decided.',
        'lead',
      ),
      paragraph('Open the link exactly as it arrived in your email.'),
    ].join('\n'),
  );
}

/** A request whose fields are missing or malformed (400), naming the field. */
export function badRequestPage(field: string, message: string): Page {
  return page(
    400,
    'This link is incomplete',
    [
      '<h1>This link or form is incomplete</h1>',
      paragraph(`${field}: ${message}`, 'lead'),
      paragraph('Open the link exactly as it arrived in your email. Nothing was decided.'),
    ].join('\n'),
  );
}

/** Any other status with a short explanation (404, 405, 413, 415, 503). */
export function messagePage(statusCode: number, title: string, message: string): Page {
  return page(statusCode, title, [`<h1>${escapeHtml(title)}</h1>`, paragraph(message, 'lead')].join('\n'));
}
