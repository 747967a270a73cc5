/**
 * A small reader for the MIME messages the SES stand-in writes (and Raw messages it is given):
 * headers, recipients, subject, and the text and HTML parts decoded. Enough to find the links in a
 * message; not a general mail parser.
 */
export interface ReadMessage {
  /** Header names lower-cased, folded lines joined; the first of repeated headers. */
  headers: Map<string, string>;
  subject: string;
  to: string[];
  cc: string[];
  bcc: string[];
  from: string | undefined;
  text: string | undefined;
  html: string | undefined;
}

interface Part {
  headers: Map<string, string>;
  body: Buffer;
}

function splitHeaders(raw: Buffer): Part {
  const text = raw.toString('latin1');
  const crlf = text.indexOf('\r\n\r\n');
  const lf = text.indexOf('\n\n');
  let end: number;
  let skip: number;
  if (crlf >= 0 && (lf < 0 || crlf < lf)) {
    end = crlf;
    skip = 4;
  } else if (lf >= 0) {
    end = lf;
    skip = 2;
  } else {
    end = text.length;
    skip = 0;
  }
  const headers = new Map<string, string>();
  const unfolded = text.slice(0, end).replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { headers, body: raw.subarray(Math.min(raw.length, end + skip)) };
}

/** A header parameter such as `boundary` or `charset`. */
function parameter(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  const found = new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(header);
  return found ? (found[1] ?? found[2]) : undefined;
}

export function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const char = joined[i]!;
    const hex = joined.slice(i + 1, i + 3);
    if (char === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(char.charCodeAt(0) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

function decodeBody(part: Part): string {
  const encoding = (part.headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const bytes =
    encoding === 'base64'
      ? Buffer.from(part.body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64')
      : encoding === 'quoted-printable'
        ? decodeQuotedPrintable(part.body.toString('latin1'))
        : part.body;
  const charset = (parameter(part.headers.get('content-type'), 'charset') ?? 'utf-8').toLowerCase();
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`) in a header value. */
export function decodeHeader(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[QqBb]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_all, charset: string, kind: string, data: string) => {
      const bytes =
        kind.toUpperCase() === 'B'
          ? Buffer.from(data, 'base64')
          : decodeQuotedPrintable(data.replaceAll('_', ' '));
      try {
        return new TextDecoder(charset.toLowerCase()).decode(bytes);
      } catch {
        return bytes.toString('utf8');
      }
    });
}

/** The addresses of an address-list header (`A <a@x>, "B, C" <b@x>, c@x`). */
export function addresses(value: string | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let angle = 0;
  for (const char of decodeHeader(value)) {
    if (char === '"') quoted = !quoted;
    else if (char === '<' && !quoted) angle++;
    else if (char === '>' && !quoted) angle = Math.max(0, angle - 1);
    if (char === ',' && !quoted && angle === 0) {
      out.push(current);
      current = '';
    } else current += char;
  }
  out.push(current);
  return out
    .map((entry) => {
      const inAngle = /<([^>]*)>/.exec(entry);
      return (inAngle ? inAngle[1]! : entry).trim();
    })
    .filter(Boolean);
}

function walk(part: Part, found: { text?: string; html?: string }, depth: number): void {
  const type = (part.headers.get('content-type') ?? 'text/plain').toLowerCase();
  const disposition = (part.headers.get('content-disposition') ?? '').toLowerCase();
  if (type.startsWith('multipart/')) {
    const boundary = parameter(part.headers.get('content-type'), 'boundary');
    if (!boundary || depth > 10) return;
    const body = part.body.toString('latin1');
    const delimiter = `--${boundary}`;
    const pieces = body.split(delimiter).slice(1);
    for (const piece of pieces) {
      if (piece.startsWith('--')) break;
      const content = piece.replace(/^\r?\n/, '').replace(/\r?\n$/, '');
      walk(splitHeaders(Buffer.from(content, 'latin1')), found, depth + 1);
    }
    return;
  }
  if (disposition.startsWith('attachment')) return;
  if (type.startsWith('text/plain') && found.text === undefined) found.text = decodeBody(part);
  else if (type.startsWith('text/html') && found.html === undefined) found.html = decodeBody(part);
}

/** Reads a whole message. */
export function readMessage(raw: Buffer | string): ReadMessage {
  const top = splitHeaders(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
  const found: { text?: string; html?: string } = {};
  walk(top, found, 0);
  return {
    headers: top.headers,
    subject: decodeHeader(top.headers.get('subject') ?? ''),
    to: addresses(top.headers.get('to')),
    cc: addresses(top.headers.get('cc')),
    bcc: addresses(top.headers.get('bcc')),
    from: addresses(top.headers.get('from'))[0],
    text: found.text,
    html: found.html,
  };
}

/** The http(s) links in a text, in order, each once. */
export function findLinks(text: string | undefined): string[] {
  if (!text) return [];
  const links = text.match(/https?:\/\/[^\s<>"'()[\]]+/g) ?? [];
  return [...new Set(links.map((link) => link.replace(/[.,;:!?]+$/, '')))];
}
