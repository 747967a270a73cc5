import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import * as z from 'zod';
import { PipelineConfigError } from '#shared/errors.ts';
import { formatZodError } from '#shared/format-zod-error.ts';
import { minimalPipelineExample, PipelineConfig } from '#shared/pipeline-config.ts';

/** The names Stepline looks for at the repository root, in order. */
export const pipelineConfigFileNames = ['stepline.yml', 'stepline.yaml'] as const;

/** A stepline.yml larger than this is refused before it is parsed. */
export const maxPipelineConfigBytes = 256 * 1024;

export type PipelineConfigCheck = { ok: true; config: PipelineConfig } | { ok: false; problems: string[] };

/**
 * Parses and validates the text of a stepline.yml. Never throws: every problem is returned, one
 * line each, as `path: what is wrong (line N)`; YAML syntax errors as `file:line:column: message`.
 */
export function checkPipelineConfig(yamlText: string, fileName = 'stepline.yml'): PipelineConfigCheck {
  if (Buffer.byteLength(yamlText) > maxPipelineConfigBytes) {
    return {
      ok: false,
      problems: [`${fileName} is larger than ${maxPipelineConfigBytes / 1024} KiB; it should be a few lines`],
    };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return `${fileName}:${line}:${col}: ${firstLine(error.message)}`;
      }),
    };
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) {
    return {
      ok: false,
      problems: [`${fileName} is empty; the smallest useful one is:\n${minimalPipelineExample}`],
    };
  }
  const result = PipelineConfig.safeParse(data, { error: issueMessage });
  if (result.success) return { ok: true, config: result.data };
  const issues = expandUnknownKeys(result.error.issues);
  const lines = formatZodError(new z.ZodError(issues));
  const located = lines.map((text, i) => ({ text, line: lineOf(doc, lineCounter, issues[i]?.path ?? []) }));
  // Problems read top to bottom like the file; ones without a line (missing keys) come last.
  located.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
  return {
    ok: false,
    problems: located.map(({ text, line }) => (line === undefined ? text : `${text} (line ${line})`)),
  };
}

/**
 * Parses a stepline.yml and returns the validated config with defaults filled in.
 * @throws PipelineConfigError whose message lists every problem, one per line.
 */
export function parsePipelineConfig(yamlText: string, fileName = 'stepline.yml'): PipelineConfig {
  const check = checkPipelineConfig(yamlText, fileName);
  if (check.ok) return check.config;
  throw new PipelineConfigError(describeProblems(fileName, check.problems));
}

/** `stepline.yml has 2 problems:` followed by one problem per line. */
export function describeProblems(fileName: string, problems: readonly string[]): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return `${fileName} has ${count}:\n${problems.join('\n')}`;
}

/** What to tell a repository that has no stepline.yml. */
export function missingPipelineConfigMessage(where: string): string {
  return `${where} has no stepline.yml (or stepline.yaml) at its root. Add one; the smallest useful one is:\n\n${minimalPipelineExample}`;
}

const firstLine = (text: string) => text.split('\n', 1)[0] ?? text;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Messages for zod's built-in issues; schema-specific messages in PipelineConfig take precedence. */
const issueMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `required, expected ${issue.expected}`
        : `expected ${issue.expected}, received ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, received ${JSON.stringify(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'string' && issue.minimum === 1) return 'must not be empty';
      return undefined;
    default:
      return undefined;
  }
};

/** zod reports all unknown keys of an object in one issue; report each at its own path, with a hint. */
function expandUnknownKeys(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue): z.core.$ZodIssue[] => {
    if (issue.code === 'invalid_key') {
      const key = String(issue.path.at(-1));
      const why = issue.issues[0]?.message ?? 'not allowed';
      return [{ ...issue, message: `invalid name ${JSON.stringify(key)}: ${why}` }];
    }
    if (issue.code !== 'unrecognized_keys') return [issue];
    const allowed = objectKeysAt(PipelineConfig, issue.path);
    return issue.keys.map((key) => {
      const suggestion = allowed.find((candidate) => editDistance(candidate, key) <= 2);
      const hint = suggestion
        ? `did you mean "${suggestion}"?`
        : `allowed: ${allowed.filter((k) => k !== 'deploy' && k !== 'environments').join(', ')}`;
      return { ...issue, path: [...issue.path, key], keys: [key], message: `unknown key (${hint})` };
    });
  });
}

/** The keys the object schema at `path` accepts (looking through defaults, optionals and pipes). */
function objectKeysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.core.$ZodType | undefined = schema;
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType => {
    const def = s._zod.def as { innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    const inner = def.innerType ?? def.in;
    return inner ? unwrap(inner) : s;
  };
  for (const key of path) {
    if (!current) return [];
    const def = unwrap(current)._zod.def as { shape?: Record<string, z.core.$ZodType> };
    current = def.shape?.[String(key)];
  }
  if (!current) return [];
  const def = unwrap(current)._zod.def as { shape?: Record<string, z.core.$ZodType> };
  return Object.keys(def.shape ?? {});
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(row[j - 1]! + 1, previous[j]! + 1, previous[j - 1]! + cost);
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** The 1-based line of the deepest node along `path` that exists in the document. */
function lineOf(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let depth = path.length; depth >= 1; depth--) {
    const node = doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}
