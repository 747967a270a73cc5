import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resultsOf, StoryBuilder } from '#local/commands/story.ts';
import type { LocalHistoryEvent, StoredExecution } from '#local/sfn/store.ts';
import type { ApprovalRecord } from '#shared/approval/record.ts';
import type {
  ApprovalView,
  CostEstimate,
  DeployedView,
  ExecutionDetail,
  ExecutionSummary,
  StateVisitView,
  TestResultsView,
} from './api-types.ts';

type Loose = Record<string, unknown>;

function parseObject(text: string | undefined): Loose | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Loose)
      : undefined;
  } catch {
    return undefined;
  }
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** Task tokens as the local engine makes them (see newTaskToken): shown redacted, never whole. */
const taskTokens = /\+\/\+\/[A-Za-z0-9+/]{679}=/g;

/** The text with every task token replaced: a token would let its holder decide the task. */
export function redactTokens(text: string | null): string | null {
  return text === null ? null : text.replace(taskTokens, (token) => `<task token ${token.slice(4, 12)}…>`);
}
const obj = (value: unknown): Loose | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Loose) : undefined;

/** The details object of a history event (`<type>EventDetails`), whatever its type. */
function details(event: LocalHistoryEvent): Loose | undefined {
  for (const [key, value] of Object.entries(event))
    if (key.endsWith('EventDetails') && obj(value)) return value as Loose;
  return undefined;
}

/** Where a history puts a running execution now: the state entered last and not left. */
function currentState(history: readonly LocalHistoryEvent[]): string | null {
  let current: string | null = null;
  for (const event of history) {
    const type = String(event.type);
    if (type.endsWith('StateEntered')) current = str(details(event)?.name);
    else if (type.endsWith('StateExited')) current = null;
  }
  return current;
}

/**
 * One row of the list, from the stored record (its input is the push) and, while it runs, its
 * history (the current state). Everything from the push is passed on as text, never as markup.
 */
export function summarizeExecution(
  record: StoredExecution,
  history: readonly LocalHistoryEvent[] | undefined,
  cost: CostEstimate | null,
  now = Date.now(),
): ExecutionSummary {
  const push = parseObject(record.input) ?? {};
  const repository = obj(push.repository);
  const head = obj(push.headCommit);
  const pusher = obj(push.pusher);
  const pusherName = str(pusher?.name);
  const pusherEmail = str(pusher?.email);
  const stop = record.stopDate ? Date.parse(record.stopDate) : now;
  return {
    name: record.name,
    status: record.status,
    repository: str(repository?.fullName),
    provider: str(push.provider),
    branch: str(push.refName),
    refType: push.refType === 'branch' || push.refType === 'tag' ? push.refType : null,
    commit: str(push.after),
    message: str(head?.message)?.split('\n', 1)[0] ?? null,
    pusher:
      pusherName && pusherEmail && pusherName !== pusherEmail
        ? `${pusherName} <${pusherEmail}>`
        : (pusherName ?? pusherEmail),
    startDate: record.startDate,
    stopDate: record.stopDate ?? null,
    durationMs: Math.max(0, stop - Date.parse(record.startDate)),
    currentState: record.status === 'RUNNING' && history ? currentState(history) : null,
    cost,
  };
}

/** Each state visit with its input, output, parameters, error and cause, in order. */
export function visitsOf(
  history: readonly LocalHistoryEvent[],
  hasLog: (state: string) => boolean,
): StateVisitView[] {
  const story = new StoryBuilder();
  // Visits that were running when the execution was stopped (a redrive may run the state again).
  const cancelled = new Set<number>();
  // The builder makes one visit per StateEntered: the extras are kept by the same index.
  const extras: {
    input: string | null;
    output: string | null;
    parameters: string | null;
    exited: boolean;
  }[] = [];
  for (const event of history) {
    const type = String(event.type);
    const info = details(event);
    if (type.endsWith('StateEntered'))
      extras.push({ input: str(info?.input), output: null, parameters: null, exited: false });
    const last = extras.at(-1);
    if (last && (type === 'TaskScheduled' || type === 'LambdaFunctionScheduled'))
      last.parameters = str(info?.parameters) ?? str(info?.input);
    if (last && type.endsWith('StateExited')) {
      last.output = str(info?.output);
      last.exited = true;
    }
    const running = story.visits.at(-1);
    if (type === 'ExecutionAborted' && running?.outcome === 'running') cancelled.add(story.visits.length - 1);
    story.add(event);
  }
  return story.visits.map((visit, index) => {
    const extra = extras[index] ?? { input: null, output: null, parameters: null, exited: false };
    return {
      index,
      name: visit.name,
      type: visit.type,
      enteredAt: visit.enteredAt.toISOString(),
      exitedAt: visit.exitedAt?.toISOString() ?? null,
      durationMs: visit.durationMs ?? null,
      // A failure the state left through its Catch: the execution went on elsewhere.
      outcome:
        visit.outcome === 'failed' && extra.exited && visit.type !== 'Fail'
          ? 'caught'
          : visit.outcome === 'failed' && cancelled.has(index)
            ? 'cancelled'
            : visit.outcome,
      retries: visit.retries,
      input: redactTokens(extra.input),
      output: redactTokens(extra.output),
      parameters: redactTokens(extra.parameters),
      error: visit.error ?? null,
      cause: visit.cause ?? null,
      summary: visit.summary ?? null,
      // A runner task that has just started may not have written its log yet: it will.
      hasLog:
        hasLog(visit.name) ||
        (visit.outcome === 'running' &&
          visit.type === 'Task' &&
          /"TaskDefinition"/.test(extra.parameters ?? '')),
    };
  });
}

/** RequestApproval's TaskSubmitted output: the approval id, approvers and expiry. */
export function approvalRequestOf(
  history: readonly LocalHistoryEvent[],
): { approvalId: string; approvers: string[]; expiresAt: string | null } | undefined {
  let found: { approvalId: string; approvers: string[]; expiresAt: string | null } | undefined;
  let inApproval = false;
  for (const event of history) {
    const type = String(event.type);
    const info = details(event);
    if (type.endsWith('StateEntered')) inApproval = info?.name === 'RequestApproval';
    if (!inApproval || type !== 'TaskSubmitted') continue;
    const output = parseObject(str(info?.output) ?? undefined);
    const result = obj(output?.Payload) ?? output;
    const approvalId = str(result?.approvalId);
    if (!approvalId) continue;
    found = {
      approvalId,
      approvers: Array.isArray(result?.approvers)
        ? result.approvers.filter((a) => typeof a === 'string')
        : [],
      expiresAt: str(result?.expiresAt),
    };
  }
  return found;
}

function testsOf(visits: readonly StateVisitView[]): TestResultsView | null {
  const test = visits.filter((visit) => visit.name === 'Test').at(-1);
  if (!test) return null;
  const tests = obj(obj(parseObject(test.output ?? undefined)?.test)?.tests);
  if (tests) {
    const n = (key: string) => (typeof tests[key] === 'number' ? (tests[key] as number) : 0);
    const failures = (Array.isArray(tests.failures) ? tests.failures : []).map((f) => {
      const failure = obj(f) ?? {};
      return {
        suite: str(failure.suite) ?? '',
        name: str(failure.name) ?? '',
        kind: str(failure.kind) ?? 'failure',
        message: str(failure.message) ?? '',
      };
    });
    return {
      total: n('total'),
      passed: n('passed'),
      failed: n('failed'),
      errors: n('errors'),
      skipped: n('skipped'),
      failures,
      note: str(tests.note),
      failureCause: null,
    };
  }
  if (test.outcome === 'failed' || test.outcome === 'caught') return testsOfFailure(test.error, test.cause);
  return null;
}

/**
 * The Test stage's failure as the runner words it (`TestsFailedError`: "N of M tests failed:" and one
 * "  ✖ suite › name: message" line per failure), read back into a list; the whole cause is kept.
 */
export function testsOfFailure(error: string | null, cause: string | null): TestResultsView {
  const text = cause ?? '';
  const counts = /(\d+) of (\d+) tests failed:\n((?: {2}[✖…].*(?:\n|$))*)/.exec(text);
  const failures = (counts?.[3] ?? '')
    .split('\n')
    .filter((line) => line.startsWith('  ✖ '))
    .map((line) => {
      const body = line.slice(4);
      const suiteEnd = body.indexOf(' › ');
      const suite = suiteEnd >= 0 ? body.slice(0, suiteEnd) : '';
      const rest = suiteEnd >= 0 ? body.slice(suiteEnd + 3) : body;
      const messageStart = rest.indexOf(': ');
      return {
        suite,
        name: messageStart >= 0 ? rest.slice(0, messageStart) : rest,
        kind: 'failure',
        message: messageStart >= 0 ? rest.slice(messageStart + 2) : '',
      };
    });
  const broken = Number(counts?.[1] ?? 0);
  const total = Number(counts?.[2] ?? 0);
  const exit = /test command `[\s\S]*?` exited with code (\d+)/.exec(text);
  return {
    total,
    passed: Math.max(0, total - broken),
    failed: broken,
    errors: 0,
    skipped: 0,
    failures,
    note: exit ? `${error ?? 'the tests failed'}: a test command exited with code ${exit[1]}` : error,
    failureCause: cause,
  };
}

function approvalOf(
  record: StoredExecution,
  history: readonly LocalHistoryEvent[],
  stored: ApprovalRecord | undefined,
  waiting: boolean,
): ApprovalView | null {
  const request = approvalRequestOf(history);
  const fromHistory = resultsOf(history).approval;
  if (!request && !fromHistory && !stored) return null;
  const decision = stored?.decision ??
    (fromHistory
      ? {
          decision: fromHistory.decision,
          approver: fromHistory.approver ?? '',
          comment: fromHistory.comment ?? '',
          decidedAt: fromHistory.decidedAt ?? '',
        }
      : undefined) ?? { decision: undefined };
  const decided = 'approver' in decision;
  return {
    id: stored?.id ?? request?.approvalId ?? null,
    status: decided
      ? decision.decision === 'reject'
        ? 'rejected'
        : 'approved'
      : record.status === 'RUNNING' && waiting
        ? 'pending'
        : 'closed',
    approvers: stored?.approvers ?? request?.approvers ?? [],
    expiresAt: stored?.expiresAt ?? request?.expiresAt ?? null,
    decision: decided ? (decision as NonNullable<ApprovalView['decision']>) : null,
  };
}

export interface DetailOptions {
  dataDir: string;
  /** The approval's record (local S3), when the execution has one. */
  approvalRecord?: ApprovalRecord | undefined;
  cost: CostEstimate | null;
  /** This runtime runs the execution (so it can stop it). */
  runsHere: boolean;
  /** The engine can redrive a closed execution. */
  canRedrive: boolean;
  now?: number;
}

/** Everything the execution page shows, from the record and the history. */
export function describeExecutionDetail(
  record: StoredExecution,
  history: readonly LocalHistoryEvent[],
  options: DetailOptions,
): ExecutionDetail {
  const logDir = join(options.dataDir, 'task-logs', record.name);
  const visits = visitsOf(history, (state) => existsSync(join(logDir, `${state}.log`)));
  const states: ExecutionDetail['states'] = {};
  for (const visit of visits) states[visit.name] = visit.outcome;
  const results = resultsOf(history);
  const deployments: DeployedView[] = (['staging', 'production'] as const).flatMap((environment) => {
    const deployed = results[environment];
    if (!deployed) return [];
    return [
      {
        environment,
        outcome: deployed.outcome ?? null,
        rolloutState: deployed.rolloutState ?? null,
        url: deployed.url ?? null,
        taskDefinitionArn: deployed.taskDefinitionArn ?? null,
        supersededBy: deployed.supersededBy ?? null,
      },
    ];
  });
  const summary = summarizeExecution(record, history, options.cost, options.now);
  const waiting = summary.currentState === 'RequestApproval';
  const approval = approvalOf(record, history, options.approvalRecord, waiting);
  return {
    summary,
    error: record.error ?? null,
    cause: record.cause ?? null,
    input: redactTokens(record.input) ?? '',
    output: redactTokens(record.output ?? null),
    visits,
    states,
    image: results.image ? { uri: results.image.uri, digest: results.image.digest } : null,
    deployments,
    tests: testsOf(visits),
    approval,
    actions: {
      stop: record.status === 'RUNNING' && options.runsHere,
      redrive: record.status !== 'RUNNING' && record.status !== 'SUCCEEDED' && options.canRedrive,
      approve: approval?.status === 'pending' && options.runsHere,
    },
  };
}
