import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '#local/config.ts';
import { findLinks, readMessage } from '#local/ses/mime.ts';
import { parseApprovalLink } from '#shared/approval/link.ts';
import { printable } from './terminal.ts';

/** An approval link found in an email of the outbox. */
export interface OutboxApprovalLink {
  id: string;
  approver: string;
  /** Seconds since the epoch. */
  expires: number;
  url: string;
  /** The `.eml` file it came from. */
  file: string;
}

export type Fetch = typeof globalThis.fetch;

/** What the approval endpoint answered to the decision (or to the link, when it refused that). */
export interface ApprovalOutcome {
  /** HTTP status of the last answer: 200 when the decision went through. */
  status: number;
  decided: boolean;
  /** The page's heading, and its paragraphs as text. */
  title: string;
  paragraphs: string[];
  /** The paragraphs as one line. */
  message: string;
}

export const outboxDirOf = (dataDir: string) => join(resolve(dataDir), 'outbox');

/**
 * Every approval link in the outbox's `.eml` files, oldest email first (file names start with the
 * time they were sent). Links are read from the text part, as a person would copy them.
 */
export async function findApprovalLinks(outboxDir: string): Promise<OutboxApprovalLink[]> {
  let names: string[];
  try {
    names = (await readdir(outboxDir)).filter((name) => name.endsWith('.eml')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const found: OutboxApprovalLink[] = [];
  for (const name of names) {
    const file = join(outboxDir, name);
    const message = readMessage(await readFile(file));
    for (const url of findLinks(message.text ?? message.html)) {
      const link = parseApprovalLink(url);
      if (link) found.push({ id: link.id, approver: link.approver, expires: link.expires, url, file });
    }
  }
  return found;
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, name: string) => {
    if (name[0] === '#')
      return String.fromCodePoint(
        name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1)),
      );
    return entities[name.toLowerCase()] ?? all;
  });
}

const textOf = (html: string) =>
  decodeEntities(html.replace(/<[^>]*>/g, ''))
    .replace(/\s+/g, ' ')
    .trim();

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const found of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/g))
    out[found[1]!.toLowerCase()] = decodeEntities(found[2] ?? found[3] ?? found[4] ?? '');
  return out;
}

/** The page's `<h1>` and the paragraphs after it, as text. */
function describePage(html: string): { title: string; paragraphs: string[]; message: string } {
  const title = textOf(/<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html)?.[1] ?? '');
  const after = html.slice(html.search(/<\/h1>/i) + 5);
  const paragraphs = [...after.matchAll(/<p[^>]*>([\s\S]*?)<\/p>/gi)]
    .map((m) => textOf(m[1]!))
    .filter(Boolean);
  return { title, paragraphs, message: paragraphs.join(' ') };
}

/** The approval form as a browser reads it: where it posts, its fields in order, its two buttons. */
export interface ApprovalForm {
  action: string;
  method: string;
  fields: Array<[string, string]>;
  /** The comment field's name. */
  comment?: string;
  buttons: Array<{ name: string; value: string; label: string }>;
}

/** Reads the first `<form>` of an approval page. */
export function readApprovalForm(html: string, pageUrl: string): ApprovalForm | undefined {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const attrs = attributes(form[1]!);
  const body = form[2]!;
  const fields: Array<[string, string]> = [];
  let comment: string | undefined;
  const buttons: ApprovalForm['buttons'] = [];
  for (const control of body.matchAll(/<(input|textarea|button)\b([^>]*)>(?:([\s\S]*?)<\/\1>)?/gi)) {
    const kind = control[1]!.toLowerCase();
    const a = attributes(control[2]!);
    if (!a.name) continue;
    if (kind === 'input' && (a.type ?? 'text') === 'hidden') fields.push([a.name, a.value ?? '']);
    else if (kind === 'textarea') comment = a.name;
    else if (kind === 'button' && (a.type ?? 'submit') === 'submit')
      buttons.push({ name: a.name, value: a.value ?? '', label: textOf(control[3] ?? '') });
  }
  return {
    action: new URL(attrs.action ?? '', pageUrl).toString(),
    method: (attrs.method ?? 'get').toLowerCase(),
    fields,
    ...(comment ? { comment } : {}),
    buttons,
  };
}

/**
 * Decides an approval the way a person in a browser would: opens the link, reads the page's own
 * form (its action and hidden fields), fills in the comment, and submits it with the Approve or
 * Reject button. Nothing bypasses the approval endpoint.
 */
export async function submitApproval(
  link: string,
  options: { decision: 'approve' | 'reject'; comment?: string; fetch?: Fetch },
): Promise<ApprovalOutcome> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const page = await doFetch(link, { redirect: 'follow', headers: { accept: 'text/html' } });
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, decided: false, ...describePage(html) };
  const form = readApprovalForm(html, page.url || link);
  const button = form?.buttons.find((b) => b.value === options.decision);
  if (form?.method !== 'post' || !button)
    return {
      status: page.status,
      decided: false,
      title: 'The approval page has no form to submit',
      paragraphs: [`${link} answered 200 without a form with a "${options.decision}" button`],
      message: `${link} answered 200 without a form with a "${options.decision}" button`,
    };
  const body = new URLSearchParams(form.fields);
  if (form.comment) body.append(form.comment, options.comment ?? '');
  body.append(button.name, button.value);
  const answer = await doFetch(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: body.toString(),
    redirect: 'follow',
  });
  return { status: answer.status, decided: answer.status === 200, ...describePage(await answer.text()) };
}

/** The link of approval `id` for approver `as` (case-insensitive), else for its first approver. */
function pickLink(
  links: OutboxApprovalLink[],
  id: string | undefined,
  as: string | undefined,
  outboxDir: string,
): OutboxApprovalLink {
  const forId = links.filter((link) => link.id === id);
  if (!id || forId.length === 0)
    throw new UsageError(
      id
        ? `no email in ${outboxDir} holds a link for approval ${id}; pass the link itself, or --data for another data directory`
        : `no approval email in ${outboxDir}`,
    );
  const link = as ? forId.find((l) => l.approver.toLowerCase() === as.toLowerCase()) : forId[0];
  if (!link)
    throw new UsageError(
      `approval ${id} was not sent to ${as}; its approvers are ${[...new Set(forId.map((l) => l.approver))].join(', ')}`,
    );
  return link;
}

/**
 * Finds an approval link in the outbox and submits its page's form: the newest request when no id
 * is given; the link for approver `as` when given, else the first approver's.
 */
export async function approveFromOutbox(options: {
  outboxDir: string;
  id?: string;
  as?: string;
  decision: 'approve' | 'reject';
  comment?: string;
  fetch?: Fetch;
}): Promise<{ link: OutboxApprovalLink; outcome: ApprovalOutcome }> {
  const links = await findApprovalLinks(options.outboxDir);
  const link = pickLink(links, options.id ?? links.at(-1)?.id, options.as, options.outboxDir);
  const outcome = await submitApproval(link.url, {
    decision: options.decision,
    ...(options.comment !== undefined ? { comment: options.comment } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return { link, outcome };
}

export interface ApproveCommandOptions {
  /** An approval id or the whole link. */
  target: string;
  reject: boolean;
  comment?: string;
  dataDir: string;
  as?: string;
  write: (line: string) => void;
}

/**
 * `stepline approve ID|URL [--reject] [--comment TEXT] [--as EMAIL]`: decides as a click on the
 * emailed link would. Exit 0 when the decision went through, 1 when the endpoint refused it
 * (forged, expired, already decided, no longer waiting), 2 when no such link is in the outbox.
 */
export async function approveCommand(options: ApproveCommandOptions): Promise<number> {
  const decision = options.reject ? 'reject' : 'approve';
  const comment = options.comment ?? '';
  let url: string;
  let approver: string;
  if (/^https?:\/\//i.test(options.target)) {
    const parsed = parseApprovalLink(options.target);
    if (!parsed)
      throw new UsageError(
        `${options.target} is not an approval link (…/approvals/<id>?approver=…&expires=…&sig=…)`,
      );
    url = options.target;
    approver = parsed.approver;
  } else {
    const outboxDir = outboxDirOf(options.dataDir);
    const link = pickLink(await findApprovalLinks(outboxDir), options.target, options.as, outboxDir);
    url = link.url;
    approver = link.approver;
  }
  let outcome: ApprovalOutcome;
  try {
    outcome = await submitApproval(url, { decision, comment });
  } catch (error) {
    throw new UsageError(
      `the approval endpoint did not answer (${(error as Error).message}); is the local runtime (stepline serve or run) still running?`,
    );
  }
  options.write(printable(outcome.title));
  for (const paragraph of outcome.paragraphs) options.write(printable(`  ${paragraph}`));
  if (!outcome.decided)
    options.write(printable(`  (nothing was decided for ${approver}: HTTP ${outcome.status})`));
  return outcome.decided ? 0 : 1;
}
