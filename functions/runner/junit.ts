import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** One failing or erroring test case, as a JUnit report names it. */
export interface JUnitFailure {
  /** Enclosing suites joined with ` › `, or the case's `classname` when it sits in no suite. */
  suite: string;
  name: string;
  kind: 'failure' | 'error';
  /** The `message` attribute, else the first line of the element's text; at most 500 characters. */
  message: string;
}

/** Counts over every `<testcase>` of one or more reports. */
export interface JUnitSummary {
  total: number;
  passed: number;
  failed: number;
  errors: number;
  skipped: number;
  /** The first failing cases, in report order (at most `maxFailures`). */
  failures: JUnitFailure[];
}

const maxMessage = 500;
/** How many failing cases a summary keeps: enough to act on, small enough for a 256 KB task result. */
export const maxFailures = 10;

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  isArray: (name) => ['testsuites', 'testsuite', 'testcase', 'failure', 'error', 'skipped'].includes(name),
});

/** An empty summary, the identity of `mergeJUnit`. */
export function emptyJUnitSummary(): JUnitSummary {
  return { total: 0, passed: 0, failed: 0, errors: 0, skipped: 0, failures: [] };
}

/**
 * Reads a JUnit XML report: `<testsuites>` (possibly with nested suites or, as Node's reporter
 * writes, bare `<testcase>`s) or a lone `<testsuite>`. Counts come from the test cases themselves,
 * not from the suites' attributes, which disagree between tools when suites nest.
 * Throws when the text is not XML or holds neither element.
 */
export function parseJUnit(xml: string): JUnitSummary {
  if (xml.trim() === '') throw new Error('not a JUnit XML report: the file is empty');
  const validation = XMLValidator.validate(xml);
  if (validation !== true) {
    throw new Error(`not a JUnit XML report: ${validation.err.msg} (line ${validation.err.line})`);
  }
  const doc = parser.parse(xml) as XmlNode;
  const roots = [
    ...asNodes(doc['testsuites']),
    ...asNodes(doc['testsuite']).map((s) => ({ testsuite: [s] })),
  ];
  if (roots.length === 0) throw new Error('not a JUnit XML report: no <testsuites> or <testsuite> element');
  const summary = emptyJUnitSummary();
  for (const root of roots) walk(root, [], summary);
  return summary;
}

/** Adds `more` into `into`, keeping at most `maxFailures` failures. */
export function mergeJUnit(into: JUnitSummary, more: JUnitSummary): JUnitSummary {
  return {
    total: into.total + more.total,
    passed: into.passed + more.passed,
    failed: into.failed + more.failed,
    errors: into.errors + more.errors,
    skipped: into.skipped + more.skipped,
    failures: [...into.failures, ...more.failures].slice(0, maxFailures),
  };
}

function walk(node: XmlNode, suites: string[], summary: JUnitSummary): void {
  for (const testcase of asNodes(node['testcase'])) countCase(testcase, suites, summary);
  // A suite-level <error>/<failure> (e.g. a crashed fixture) has no case of its own: count it as one.
  for (const kind of ['failure', 'error'] as const) {
    for (const problem of node[kind] === undefined ? [] : asList(node[kind])) {
      summary.total += 1;
      if (kind === 'failure') summary.failed += 1;
      else summary.errors += 1;
      pushFailure(summary, { suite: suites.join(' › '), name: '(suite)', kind, message: messageOf(problem) });
    }
  }
  for (const suite of asNodes(node['testsuite'])) {
    const name = attr(suite, 'name');
    walk(suite, name ? [...suites, name] : suites, summary);
  }
}

function countCase(testcase: XmlNode, suites: string[], summary: JUnitSummary): void {
  summary.total += 1;
  const failure = testcase['failure'];
  const error = testcase['error'];
  const kind = failure !== undefined ? 'failure' : error !== undefined ? 'error' : undefined;
  if (kind === undefined) {
    if (testcase['skipped'] !== undefined) summary.skipped += 1;
    else summary.passed += 1;
    return;
  }
  if (kind === 'failure') summary.failed += 1;
  else summary.errors += 1;
  const problem = asList(kind === 'failure' ? failure : error)[0];
  pushFailure(summary, {
    suite: suites.length > 0 ? suites.join(' › ') : (attr(testcase, 'classname') ?? ''),
    name: attr(testcase, 'name') ?? '(unnamed)',
    kind,
    message: messageOf(problem),
  });
}

function pushFailure(summary: JUnitSummary, failure: JUnitFailure): void {
  if (summary.failures.length < maxFailures) summary.failures.push(failure);
}

function messageOf(problem: unknown): string {
  if (typeof problem === 'string') return firstLine(problem);
  if (problem && typeof problem === 'object') {
    const node = problem as XmlNode;
    const message = attr(node, 'message');
    if (message) return clip(message);
    const text = node['#text'];
    if (typeof text === 'string') return firstLine(text);
  }
  return '';
}

function firstLine(text: string): string {
  return clip(text.trim().split('\n')[0]?.trim() ?? '');
}

function clip(text: string): string {
  return text.length > maxMessage ? `${text.slice(0, maxMessage - 1)}…` : text;
}

function attr(node: XmlNode, name: string): string | undefined {
  const value = node[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

/** Elements that are objects; a self-closing `<testcase/>` parses as `''` and still counts. */
function asNodes(value: unknown): XmlNode[] {
  return asList(value).map((v) => (v && typeof v === 'object' ? (v as XmlNode) : {}));
}
