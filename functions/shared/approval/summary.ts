import * as z from 'zod';
import { Provider } from '../push-event.ts';

const Person = z.object({ name: z.string(), email: z.string().optional() });

/** One commit in the list of what ships. */
export const ChangeCommit = z.object({
  id: z.string(),
  /** First line of the message. */
  message: z.string(),
  author: Person,
  url: z.string().optional(),
});
export type ChangeCommit = z.infer<typeof ChangeCommit>;

/**
 * What an approver is asked to approve, in the email and on the page alike. Built once by
 * RequestApproval and kept in the approval record, so the page shows exactly what the email said.
 */
export const ApprovalSummary = z.object({
  provider: Provider,
  repository: z.string(),
  repositoryUrl: z.string().optional(),
  refType: z.enum(['branch', 'tag']),
  /** Branch or tag name. */
  refName: z.string(),
  commit: z.string(),
  commitUrl: z.string().optional(),
  /** First line of the head commit's message. */
  headline: z.string(),
  pushedBy: Person,
  image: z.object({ uri: z.string(), digest: z.string(), repository: z.string() }),
  tests: z
    .object({
      total: z.number().int(),
      passed: z.number().int(),
      failed: z.number().int(),
      errors: z.number().int(),
      skipped: z.number().int(),
      note: z.string().optional(),
    })
    .optional(),
  staging: z.object({
    outcome: z.string(),
    rolloutState: z.string(),
    cluster: z.string(),
    service: z.string(),
    url: z.string().optional(),
  }),
  /** What production runs now. */
  production: z.object({
    state: z.enum(['deployed', 'same', 'first', 'unknown']),
    commit: z.string().optional(),
    service: z.string().optional(),
    /** Why the state is what it is, when that needs saying (e.g. why it is unknown). */
    note: z.string().optional(),
  }),
  changes: z.object({
    /** E.g. "Commits since production (3)". */
    title: z.string(),
    /** Newest first; at most a screenful. */
    commits: z.array(ChangeCommit),
    /** How many there are in all (more than `commits` when cut). */
    total: z.number().int().nonnegative(),
    note: z.string().optional(),
  }),
  execution: z.object({
    name: z.string(),
    arn: z.string(),
    /** The Step Functions console on AWS. */
    url: z.string().optional(),
    /** A command that shows it (the local runtime). */
    command: z.string().optional(),
  }),
  expiresAt: z.string(),
});
export type ApprovalSummary = z.infer<typeof ApprovalSummary>;

/** `2026-11-30 05:00 UTC`. */
export function formatUtc(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const short = (sha: string) => sha.slice(0, 12);

export function describePerson(person: { name: string; email?: string | undefined }): string {
  return person.email ? `${person.name} <${person.email}>` : person.name;
}

export function describeTests(tests: ApprovalSummary['tests']): string {
  if (!tests) return 'no test results were reported';
  if (tests.total === 0 && tests.note) return tests.note;
  const parts = [`${tests.passed} passed`, `${tests.failed} failed`];
  if (tests.errors > 0) parts.push(`${tests.errors} errors`);
  parts.push(`${tests.skipped} skipped`);
  return `${parts.join(', ')} (${tests.total} in all)`;
}

export function describeStaging(staging: ApprovalSummary['staging']): string {
  const state =
    staging.rolloutState === 'COMPLETED'
      ? 'rolled out'
      : `${staging.outcome.toLowerCase()} (${staging.rolloutState})`;
  return `${state} to ${staging.service} in ${staging.cluster}`;
}

export function describeProduction(production: ApprovalSummary['production']): string {
  const where = production.service ? ` (${production.service})` : '';
  switch (production.state) {
    case 'deployed':
      return `runs ${short(production.commit ?? '?')}${where}`;
    case 'same':
      return `already runs this commit${where}`;
    case 'first':
      return `first production deployment${where}${production.note ? `: ${production.note}` : ''}`;
    case 'unknown':
      return `unknown${where}${production.note ? `: ${production.note}` : ''}`;
  }
}

export function describeRef(summary: Pick<ApprovalSummary, 'refType' | 'refName'>): string {
  return summary.refType === 'tag' ? `tag ${summary.refName}` : summary.refName;
}

/** The one-line subject of an approval email. */
export function approvalSubject(summary: ApprovalSummary): string {
  return `Approve production: ${summary.repository} ${describeRef(summary)} @ ${short(summary.commit)}`;
}

/** The facts of the summary as label/value pairs, in reading order (text rendering). */
function facts(summary: ApprovalSummary): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['Repository', `${summary.repository} (${summary.provider})`],
    [summary.refType === 'tag' ? 'Tag' : 'Branch', summary.refName],
    ['Commit', `${short(summary.commit)} ${summary.headline}`.trim()],
    ['Pushed by', describePerson(summary.pushedBy)],
    ['Image', summary.image.uri],
    ['Tests', describeTests(summary.tests)],
    [
      'Staging',
      `${describeStaging(summary.staging)}${summary.staging.url ? ` — ${summary.staging.url}` : ''}`,
    ],
    ['Production now', describeProduction(summary.production)],
    ['Execution', summary.execution.url ?? summary.execution.command ?? summary.execution.name],
    ['Link expires', formatUtc(summary.expiresAt)],
  ];
  return rows;
}

/** The summary as plain text (the email's text part). */
export function summaryText(summary: ApprovalSummary): string {
  const width = Math.max(...facts(summary).map(([label]) => label.length)) + 2;
  const lines = facts(summary).map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`);
  lines.push('', `${summary.changes.title}:`);
  if (summary.changes.commits.length === 0) lines.push('  (no commits to list)');
  for (const commit of summary.changes.commits)
    lines.push(`  ${short(commit.id)}  ${commit.message} — ${commit.author.name}`);
  if (summary.changes.total > summary.changes.commits.length)
    lines.push(`  … and ${summary.changes.total - summary.changes.commits.length} more`);
  if (summary.changes.note) lines.push(`  (${summary.changes.note})`);
  return lines.join('\n');
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Only http(s) URLs become links; anything else is shown as text. */
function safeHref(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.toString() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How the HTML fragment is styled: the email uses inline `style` attributes (mail clients drop
 * style sheets); the page uses classes from its one `<style>` block (its CSP forbids `style=`).
 */
export type HtmlStyling = (role: HtmlRole) => string;
export type HtmlRole = 'h2' | 'dl' | 'dt' | 'dd' | 'code' | 'commits' | 'commit' | 'author' | 'note' | 'a';

export const classStyling: HtmlStyling = (role) => ` class="${role}"`;

const inlineStyles: Record<HtmlRole, string> = {
  h2: 'font-size:16px;margin:20px 0 8px;',
  dl: 'margin:0;',
  dt: 'font-weight:600;color:#444;margin-top:8px;',
  dd: 'margin:0 0 4px 0;',
  code: 'font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;word-break:break-all;',
  commits: 'padding-left:20px;margin:0;',
  commit: 'margin:4px 0;',
  author: 'color:#555;',
  note: 'color:#555;font-size:13px;',
  a: 'color:#0b57d0;',
};
export const inlineStyling: HtmlStyling = (role) => ` style="${inlineStyles[role]}"`;

function link(url: string | undefined, text: string, style: HtmlStyling): string {
  const href = safeHref(url);
  return href
    ? `<a href="${escapeHtml(href)}" rel="noreferrer noopener"${style('a')}>${escapeHtml(text)}</a>`
    : escapeHtml(text);
}

const code = (text: string, style: HtmlStyling) => `<code${style('code')}>${escapeHtml(text)}</code>`;

/** The summary as an HTML fragment: headings, a definition list of facts, the list of commits. */
export function summaryHtml(summary: ApprovalSummary, style: HtmlStyling): string {
  const row = (label: string, value: string) =>
    `<dt${style('dt')}>${escapeHtml(label)}</dt><dd${style('dd')}>${value}</dd>`;
  const execution = summary.execution.url
    ? link(summary.execution.url, summary.execution.name, style)
    : summary.execution.command
      ? code(summary.execution.command, style)
      : escapeHtml(summary.execution.name);
  const rows = [
    row('Repository', `${link(summary.repositoryUrl, summary.repository, style)} (${summary.provider})`),
    row(summary.refType === 'tag' ? 'Tag' : 'Branch', escapeHtml(summary.refName)),
    row(
      'Commit',
      `${link(summary.commitUrl, short(summary.commit), style)} ${escapeHtml(summary.headline)}`.trim(),
    ),
    row('Pushed by', escapeHtml(describePerson(summary.pushedBy))),
    row('Image', code(summary.image.uri, style)),
    row('Tests', escapeHtml(describeTests(summary.tests))),
    row(
      'Staging',
      `${escapeHtml(describeStaging(summary.staging))}${summary.staging.url ? `: ${link(summary.staging.url, summary.staging.url, style)}` : ''}`,
    ),
    row('Production now', escapeHtml(describeProduction(summary.production))),
    row('Execution', execution),
    row('Link expires', escapeHtml(formatUtc(summary.expiresAt))),
  ];
  const commits = summary.changes.commits.map(
    (commit) =>
      `<li${style('commit')}>${link(commit.url, short(commit.id), style)} ${escapeHtml(commit.message)} <span${style('author')}>— ${escapeHtml(commit.author.name)}</span></li>`,
  );
  const more =
    summary.changes.total > summary.changes.commits.length
      ? `<p${style('note')}>… and ${summary.changes.total - summary.changes.commits.length} more</p>`
      : '';
  const note = summary.changes.note ? `<p${style('note')}>${escapeHtml(summary.changes.note)}</p>` : '';
  return [
    `<h2${style('h2')}>What ships</h2>`,
    `<dl${style('dl')}>${rows.join('')}</dl>`,
    `<h2${style('h2')}>${escapeHtml(summary.changes.title)}</h2>`,
    commits.length > 0
      ? `<ol${style('commits')}>${commits.join('')}</ol>`
      : `<p${style('note')}>No commits to list.</p>`,
    more,
    note,
  ].join('\n');
}
