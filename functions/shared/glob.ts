/**
 * Glob matching for the deployment configuration's globs (trigger branches, tags and paths, repository
 * names, execution-mode branches): picomatch's syntax and results (with `dot: true`) for the patterns
 * it supports, in a few lines instead of picomatch's parser, which cost the webhook about a tenth of its
 * cold start. `test/unit/shared/glob.test.ts` checks it against picomatch on generated patterns and
 * names.
 *
 * Supported: `*` (any characters but `/`), `**` as a whole segment (any number of segments), `?` (one
 * character but `/`), classes `[abc]`, `[a-z]`, `[^a]` (as in picomatch, `[!a]` is not a negation: it
 * holds `!` and `a`), alternatives `{a,b}` (nested, and spanning `/`), `\` escaping the next
 * character, and a leading `!` negating the whole pattern. Dotfiles match like any other name, but no
 * wildcard matches a `.` or `..` segment. Refused by {@link globProblem} (so a configuration using them
 * is refused rather than matched differently): parentheses and the extglobs built on them (`@(a|b)`,
 * `!(a)`, `+(a)`, …), POSIX classes (`[[:alpha:]]`), ranges in braces (`{1..9}`), and `**` inside a
 * segment (`**.md`, which picomatch matches across directories but `a**` not).
 */

export interface GlobOptions {
  /** Letters match in either case (repository names). @default false */
  readonly nocase?: boolean;
}

/** Alternatives one pattern may expand to through its braces; more is refused. */
const MAX_ALTERNATIVES = 256;

/** Why `pattern` is not a glob this module matches, or `undefined` when it is. */
export function globProblem(pattern: string): string | undefined {
  try {
    globMatcher(pattern);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const cache = new Map<string, (input: string) => boolean>();

/** A matcher for `pattern`, compiled once per pattern and options. Throws on a {@link globProblem}. */
export function globMatcher(pattern: string, options: GlobOptions = {}): (input: string) => boolean {
  const key = `${options.nocase ? 'i' : 's'}:${pattern}`;
  let matcher = cache.get(key);
  if (!matcher) {
    const { regex, negated } = compile(pattern, options);
    matcher = negated ? (input) => !regex.test(input) : (input) => regex.test(input);
    cache.set(key, matcher);
  }
  return matcher;
}

/** Whether `input` matches `pattern` (see {@link globMatcher}). */
export function matchesGlob(pattern: string, input: string, options: GlobOptions = {}): boolean {
  return globMatcher(pattern, options)(input);
}

function compile(pattern: string, options: GlobOptions): { regex: RegExp; negated: boolean } {
  let body = pattern;
  let negated = false;
  while (body.startsWith('!') && !body.startsWith('!(')) {
    negated = !negated;
    body = body.slice(1);
  }
  while (body.startsWith('./')) body = body.slice(2);
  const sources = expandBraces(body).map(alternative);
  return { regex: new RegExp(`^(?:${sources.join('|')})$`, options.nocase ? 'i' : ''), negated };
}

/** `{a,b}` expanded, innermost first; a brace without a top-level comma stays literal, as in picomatch. */
function expandBraces(pattern: string): string[] {
  let open = -1;
  let depth = 0;
  const commas: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      i = classEnd(pattern, i) ?? i;
    } else if (c === '{') {
      if (depth === 0) {
        open = i;
        commas.length = 0;
      }
      depth++;
    } else if (c === ',' && depth === 1) {
      commas.push(i);
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth > 0) continue;
      const inner = pattern.slice(open + 1, i);
      if (commas.length === 0) {
        if (/^[^,]*\.\.[^,]*$/.test(inner) && inner.length > 2)
          throw new Error(
            `"${pattern}": ranges in braces ({1..9}) are not supported; list the values ({1,2,3})`,
          );
        open = -1;
        continue; // `{a}`: literal braces
      }
      const bounds = [open, ...commas, i];
      const choices = bounds.slice(1).map((end, k) => pattern.slice(bounds[k]! + 1, end));
      const before = pattern.slice(0, open);
      const after = pattern.slice(i + 1);
      const expanded = choices.flatMap((choice) => expandBraces(before + choice + after));
      if (expanded.length > MAX_ALTERNATIVES)
        throw new Error(`"${pattern}" expands to more than ${MAX_ALTERNATIVES} alternatives`);
      return [...new Set(expanded)];
    }
  }
  return [pattern];
}

/** Index of the `]` closing the class opened at `start`, or `undefined` when it is a literal `[`. */
function classEnd(pattern: string, start: number): number | undefined {
  let i = start + 1;
  if (pattern[i] === '^') i++;
  if (pattern[i] === ']') i++;
  for (; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return undefined;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
/** One segment that is not `.` or `..` (no wildcard matches those). */
const ANY_SEGMENT = '(?!\\.{1,2}(?:/|$))[^/]+';

/** The regex source of one brace-free alternative. */
function alternative(pattern: string): string {
  const segments = pattern.split('/').filter((s, i, all) => !(s === '**' && all[i - 1] === '**'));
  if (segments.length === 1 && segments[0] === '**') return `${ANY_SEGMENT}(?:/${ANY_SEGMENT})*`;
  let source = '';
  segments.forEach((segment, i) => {
    const first = i === 0;
    const last = i === segments.length - 1;
    if (segment === '**') {
      if (first) source += `(?:${ANY_SEGMENT}/)*`;
      // `a/**` also matches `a` itself, but (as in picomatch) `a*/**` needs something below `a*`.
      else if (last) source += `(?:/${ANY_SEGMENT})${endsWithStar(segments[i - 1]!) ? '+' : '*'}`;
      else source += `/(?:${ANY_SEGMENT}/)*`;
      return;
    }
    const afterGlobstar = !first && segments[i - 1] === '**';
    if (!first && !afterGlobstar) source += '/';
    source += translateSegment(segment, pattern);
  });
  return source;
}

const endsWithStar = (segment: string) => segment.endsWith('*') && !segment.endsWith('\\*');

function translateSegment(segment: string, pattern: string): string {
  if (segment === '*') return ANY_SEGMENT;
  let out = '';
  let wild = false;
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '\\') {
      out += escapeRegex(segment[i + 1] ?? '\\');
      i++;
    } else if (c === '*') {
      if (segment[i + 1] === '*')
        throw new Error(
          `"${pattern}": ** matches across directories only as a whole segment; write **/*.md (in any directory) or *.md (in this one)`,
        );
      out += '[^/]*';
      wild = true;
    } else if (c === '?') {
      if (segment[i + 1] === '(') throw unsupported(pattern, 'extglobs such as ?(a|b)');
      out += '[^/]';
    } else if (c === '[') {
      const end = classEnd(segment, i);
      if (end === undefined) {
        out += '\\[';
        continue;
      }
      out += translateClass(segment.slice(i + 1, end), pattern);
      i = end;
    } else if (c === '(' || c === ')') {
      throw unsupported(pattern, 'parentheses and extglobs such as @(a|b)');
    } else if ((c === '+' || c === '@' || c === '!') && segment[i + 1] === '(') {
      throw unsupported(pattern, `extglobs such as ${c}(a|b)`);
    } else {
      out += escapeRegex(c);
    }
  }
  return wild ? `(?!\\.{1,2}(?:/|$))${out}` : out;
}

function translateClass(inner: string, pattern: string): string {
  if (inner.includes('[:')) throw unsupported(pattern, 'POSIX classes such as [[:alpha:]]');
  const negated = inner.startsWith('^');
  const members = (negated ? inner.slice(1) : inner).replace(/\\(.)|([\\\]^[])/g, (_, escaped, bare) =>
    escaped === undefined ? `\\${bare}` : escapeRegex(escaped),
  );
  if (negated) return `[^/${members}]`;
  // As in picomatch, `[!a]` is no negation: it is the class of `!` and `a`, or the text `[!a]` itself.
  return inner.startsWith('!') ? `(?:${escapeRegex(`[${inner}]`)}|[${members}])` : `[${members}]`;
}

function unsupported(pattern: string, what: string): Error {
  return new Error(`"${pattern}": ${what} are not supported in Stepline's globs`);
}
