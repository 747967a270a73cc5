import { isProcessAlive } from '#local/process.ts';
import '#local/polyfills.ts';
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { maxPayloadBytes } from '#shared/payload-budget.ts';
import {
  ExecutionAlreadyExistsError,
  ExecutionDoesNotExistError,
  InvalidArnError,
  InvalidExecutionInputError,
  InvalidNameError,
  InvalidOutputError,
  InvalidTokenError,
  TaskDoesNotExistError,
  TaskTimedOutError,
  ValidationError,
} from './errors.ts';
import { type HistoryEventBody, resourceKind, stateEventType, withoutExecutionData } from './history.ts';
import {
  appendHistoryEvent,
  type ExecutionStatus,
  ensureStore,
  type LocalHistoryEvent,
  listStoredExecutions,
  readHistory,
  readStoredExecution,
  repairHistoryTail,
  type StoredExecution,
  writeStoredExecution,
} from './store.ts';

type JsonValue = Parameters<StateMachine['run']>[0];
type LibEvent = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** What a task handler learns about the task it runs. */
export type TaskContext = {
  executionArn: string;
  executionName: string;
  stateName: string;
  /** The state's `Resource` ARN, as in the rendered definition. */
  resource: string;
  /** Set for `.waitForTaskToken` resources; the same token is in the handler's input. */
  taskToken?: string;
  /** Aborted when the task fails, times out or its execution stops: kill whatever the handler started. */
  signal: AbortSignal;
};

/**
 * Runs one Task state. For a plain resource the returned value is the task's result and a thrown
 * error (its `name` kept) is the task's failure. For a `.waitForTaskToken` resource the handler only
 * launches the work; the result comes later through `sendTaskSuccess`/`sendTaskFailure`.
 */
export type TaskHandler = (input: unknown, ctx: TaskContext) => Promise<unknown>;

/** The subset of a logger (Powertools' included) the engine writes to. */
export interface EngineLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

export interface LocalStepFunctionsOverrides {
  /**
   * Milliseconds every `Wait` state of the definition waits instead of its own time, whatever its
   * name (one setting, so a Wait state added to the ASL is shortened too).
   */
  readonly waitTimeOverrides?: number;
  /** Milliseconds between retries: one number for all, or per state name (an array per retrier). */
  readonly retryIntervalOverrides?: number | Record<string, number | number[]>;
  /** Seconds used instead of every state's `HeartbeatSeconds` (fractions allowed, for tests). */
  readonly heartbeatSecondsOverride?: number;
}

export interface LocalStepFunctionsOptions {
  /** Data directory; executions are stored under `<dataDir>/executions/`. */
  readonly dataDir: string;
  /** Name of the state machine, e.g. `stepline-pipeline`. */
  readonly stateMachineName: string;
  /** The rendered ASL definition (JSON text). */
  readonly definition: string;
  /** @default 'local' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** A handler for every `Resource` ARN the definition's Task states use. */
  readonly tasks: Record<string, TaskHandler>;
  readonly overrides?: LocalStepFunctionsOverrides;
  readonly logger?: EngineLogger;
}

/** `DescribeExecution`'s answer. */
export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  /** JSON text. */
  input: string;
  /** JSON text, once SUCCEEDED. */
  output?: string;
  error?: string;
  cause?: string;
}

/** One item of `ListExecutions`. */
export type ExecutionListItem = Pick<
  ExecutionDescription,
  'executionArn' | 'stateMachineArn' | 'name' | 'status' | 'startDate' | 'stopDate'
>;

export interface StartExecutionResult {
  executionArn: string;
  startDate: Date;
  /** True when a RUNNING execution with this name and the same input already existed. */
  alreadyStarted: boolean;
}

/** Error of an execution that was RUNNING when the local runtime stopped. */
export const runtimeStoppedError = 'Stepline.RuntimeStopped';

/** Longest delay `setTimeout` honours (about 24.8 days); longer ones would fire at once. */
const maxTimerSeconds = 2_147_483;
const defaultPageSize = 100;
const maxPageSize = 1000;
/**
 * Task tokens look like AWS's: several hundred characters of standard base64, so a token put into a
 * URL, a form or a shell without encoding breaks here as it would on AWS. Each starts with `+/+/`
 * (three fixed bytes) and ends with `=`, so every token has all three characters that need encoding.
 */
const tokenHeader = Buffer.from([0xfb, 0xff, 0xbf]);
const tokenBytes = 512;
const tokenPattern = /^\+\/\+\/[A-Za-z0-9+/]{679}=$/;

/** A fresh task token: {@link tokenBytes} bytes (a fixed header, then random) in standard base64. */
export function newTaskToken(): string {
  return Buffer.concat([tokenHeader, randomBytes(tokenBytes - tokenHeader.length)]).toString('base64');
}

type TaskSpec = {
  stateName: string;
  resource: string;
  handler: TaskHandler;
  timeoutSeconds?: number;
  /** `TimeoutSecondsPath`, read from the state's input when the task starts. */
  timeoutSecondsPath?: string;
  heartbeatSeconds?: number;
};

type Deferred<T> = { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void };

function defer<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type PendingTask = {
  spec: TaskSpec;
  execution: RunningExecution;
  token?: string;
  controller: AbortController;
  outcome: Deferred<JsonValue>;
  settled: boolean;
  timers: NodeJS.Timeout[];
  heartbeatSeconds?: number;
  heartbeat?: NodeJS.Timeout;
};

type StopRequest = { kind: 'stop'; error?: string; cause?: string } | { kind: 'shutdown'; cause: string };

type RunningExecution = {
  name: string;
  executionArn: string;
  input: string;
  startDate: Date;
  placeholder: string;
  lastEventId: number;
  closing: boolean;
  stopRequest?: StopRequest;
  abort: () => void;
  pending: Set<PendingTask>;
  /** Each Task state's input as it was entered (before `Parameters`), for `TimeoutSecondsPath`. */
  stateInputs: Map<string, JsonValue>;
  /** Set when a state's input or output passed {@link maxPayloadBytes}: the execution fails with it. */
  dataLimitExceeded?: string;
  eventsDrained: Promise<void>;
  done: Deferred<ExecutionDescription>;
};

/**
 * A Task's `TimeoutSecondsPath` read from the state's input (a `$.a.b` reference path, as AWS
 * allows there). Not a positive integer: `States.Runtime`, as on AWS.
 */
function timeoutFromPath(spec: TaskSpec, stateInput: JsonValue | undefined): number {
  const path = spec.timeoutSecondsPath ?? '';
  let value: unknown = stateInput;
  for (const key of path
    .replace(/^\$\.?/, '')
    .split('.')
    .filter(Boolean)) {
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw runtimeError(
      `TimeoutSecondsPath '${path}' of state ${spec.stateName} does not point to a positive integer (got ${JSON.stringify(value) ?? 'nothing'})`,
    );
  return value;
}

/** Engine ids alive in this process; a RUNNING record owned by this pid but none of these is stale. */
const liveEngineIds = new Set<string>();

const silentLogger: EngineLogger = { info() {}, warn() {}, error() {} };

/** Errors that aws-local-stepfunctions must neither retry nor catch: the execution is closing. */
function executionClosedError(execution: RunningExecution): Error {
  return Object.assign(new Error(`execution ${execution.name} is closing; no further task runs`), {
    name: 'Stepline.ExecutionClosed',
    isRetryable: false,
    isCatchable: false,
  });
}

/**
 * `States.DataLimitExceeded`, as AWS raises it for data over 256 KiB: a terminal error that neither
 * `Retry` nor `Catch` (not even `States.ALL`) matches, so the execution fails where it stands.
 */
export function dataLimitError(message: string): Error {
  return Object.assign(namedError('States.DataLimitExceeded', message), {
    isRetryable: false,
    isCatchable: false,
  });
}

/**
 * `States.Runtime`, as AWS raises it (a path that leads nowhere valid, a result that is not JSON):
 * like `States.DataLimitExceeded`, neither `Retry` nor `Catch` (not even `States.ALL`) matches it.
 */
export function runtimeError(message: string): Error {
  return Object.assign(namedError('States.Runtime', message), { isRetryable: false, isCatchable: false });
}

/**
 * aws-local-stepfunctions lets `States.TaskFailed` match every error of a Task except instances of
 * its own `StatesTimeoutError`, a class it does not export. The engine takes the class's prototype
 * from one run of a throwaway machine whose task times out after a millisecond, and gives it to the
 * timeouts it raises itself, so `States.TaskFailed` skips them as on AWS.
 */
let libraryTimeoutPrototype: object | undefined;
const libraryTimeoutPrototypeReady: Promise<object> = (async () => {
  const probe = new StateMachine(
    {
      StartAt: 'Probe',
      States: {
        Probe: {
          Type: 'Task',
          Resource: 'arn:aws:lambda:local:0:function:probe',
          TimeoutSeconds: 0.001,
          End: true,
        },
      },
    } as unknown as StateMachineDefinition,
    { validationOptions: { noValidate: true } },
  );
  const run = probe.run(
    {},
    { overrides: { taskResourceLocalHandlers: { Probe: () => new Promise(() => {}) } } },
  );
  try {
    await run.result;
  } catch (thrown) {
    const cause = thrown instanceof ExecutionError ? thrown.cause : undefined;
    if (cause instanceof Error && cause.name === 'States.Timeout') {
      libraryTimeoutPrototype = Object.getPrototypeOf(cause) as object;
      return libraryTimeoutPrototype;
    }
  }
  // Neither Retry nor Catch may hide it: every task of every execution fails with it.
  throw Object.assign(
    namedError(
      'Stepline.EngineBroken',
      'aws-local-stepfunctions no longer raises its StatesTimeoutError for a task timeout; the engine cannot tell timeouts from other task failures',
    ),
    { isRetryable: false, isCatchable: false },
  );
})();
// Awaited where it is needed (runTask); an unhandled rejection here would end the process.
libraryTimeoutPrototypeReady.catch(() => {});

/** Errors that only `States.Timeout` (and their own name) match, as on AWS. */
const timeoutErrorNames = new Set(['States.Timeout', 'States.HeartbeatTimeout']);

/**
 * A task's timeout error (`States.Timeout` for `TimeoutSeconds`, `States.HeartbeatTimeout` for
 * `HeartbeatSeconds`): `States.TaskFailed` does not match it; `States.Timeout` matches both (see
 * {@link forLibraryErrorEquals}).
 */
function timeoutError(name: string, message: string): Error {
  const error = namedError(name, message);
  if (libraryTimeoutPrototype) Object.setPrototypeOf(error, libraryTimeoutPrototype);
  return error;
}

/**
 * `ErrorEquals` as the library must see it: `States.Timeout` also lists `States.HeartbeatTimeout`,
 * which AWS matches as a kind of timeout.
 */
function forLibraryErrorEquals(state: Record<string, unknown>): void {
  for (const key of ['Retry', 'Catch'] as const) {
    const rules = state[key];
    if (!Array.isArray(rules)) continue;
    for (const rule of rules as Array<{ ErrorEquals?: unknown }>) {
      const names = rule.ErrorEquals;
      if (
        Array.isArray(names) &&
        names.includes('States.Timeout') &&
        !names.includes('States.HeartbeatTimeout')
      )
        rule.ErrorEquals = [...names, 'States.HeartbeatTimeout'];
    }
  }
}

/** AWS's wording, with the figures. */
function dataLimitMessage(stateName: string, what: string, bytes: number): string {
  return `The state/task '${stateName}' ${what} with a size exceeding the maximum number of bytes service limit (${bytes} bytes; the limit is ${maxPayloadBytes}).`;
}

const overLimit = (text: string) => Buffer.byteLength(text) > maxPayloadBytes;

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return namedError(
    'Error',
    typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown)),
  );
}

function replaceDeep(value: JsonValue, placeholder: string, token: string): JsonValue {
  if (typeof value === 'string') return value.replaceAll(placeholder, token);
  if (Array.isArray(value)) return value.map((item) => replaceDeep(item, placeholder, token));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, replaceDeep(item, placeholder, token)]),
    );
  }
  return value;
}

/**
 * AWS's execution name rule: 1–80 characters; no whitespace, brackets, wildcards, control
 * characters or any of `" # % \ ^ | ~ ` $ & , ; : /`.
 */
export function validateExecutionName(name: string): void {
  if (name.length < 1 || name.length > 80)
    throw new InvalidNameError(`Invalid Name: '${name}' (must be 1 to 80 characters, got ${name.length})`);
  const bad = [...name].find((char) => {
    const code = char.codePointAt(0) ?? 0;
    return (
      /\s/.test(char) ||
      '<>{}[]?*"#%\\^|~`$&,;:/'.includes(char) ||
      code <= 0x1f ||
      (code >= 0x7f && code <= 0x9f)
    );
  });
  if (bad)
    throw new InvalidNameError(`Invalid Name: '${name}' (character ${JSON.stringify(bad)} is not allowed)`);
}

function toDescription(record: StoredExecution): ExecutionDescription {
  return {
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    startDate: new Date(record.startDate),
    ...(record.stopDate === undefined ? {} : { stopDate: new Date(record.stopDate) }),
    input: record.input,
    ...(record.output === undefined ? {} : { output: record.output }),
    ...(record.error === undefined ? {} : { error: record.error }),
    ...(record.cause === undefined ? {} : { cause: record.cause }),
  };
}

function paginate<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined) {
  const size = maxResults === undefined || maxResults === 0 ? defaultPageSize : maxResults;
  if (!Number.isInteger(size) || size < 0 || size > maxPageSize)
    throw new ValidationError(`maxResults must be an integer from 0 to ${maxPageSize}, got ${maxResults}`);
  let offset = 0;
  if (nextToken !== undefined) {
    const parsed = /^o(\d+)$/.exec(Buffer.from(nextToken, 'base64url').toString('utf8'));
    if (!parsed) throw new InvalidTokenError(`Invalid pagination token: '${nextToken}'`);
    offset = Number(parsed[1]);
  }
  const page = items.slice(offset, offset + size);
  const next =
    offset + size < items.length ? Buffer.from(`o${offset + size}`).toString('base64url') : undefined;
  return { page, ...(next === undefined ? {} : { nextToken: next }) };
}

function collectStates(
  states: Record<string, unknown>,
  visit: (name: string, state: Record<string, unknown>) => void,
): void {
  for (const [name, state] of Object.entries(states)) {
    if (state === null || typeof state !== 'object') continue;
    const s = state as Record<string, unknown>;
    visit(name, s);
    const nested = [...(Array.isArray(s.Branches) ? s.Branches : []), s.Iterator, s.ItemProcessor] as Array<
      { States?: Record<string, unknown> } | undefined
    >;
    for (const machine of nested) if (machine?.States) collectStates(machine.States, visit);
  }
}

/**
 * Step Functions on one machine: runs a JSONPath ASL definition with aws-local-stepfunctions and
 * adds what that library lacks — task tokens (`.waitForTaskToken`), `HeartbeatSeconds`, AWS-like
 * task timeouts, named idempotent executions, a history on disk and recovery after a crash.
 *
 * Emits `'event'` with `(executionArn, historyEvent)` for each history event as it is recorded.
 */
export class LocalStepFunctions extends EventEmitter<{
  event: [executionArn: string, event: LocalHistoryEvent];
}> {
  readonly dataDir: string;
  readonly stateMachineName: string;
  readonly region: string;
  readonly accountId: string;
  readonly stateMachineArn: string;
  readonly roleArn: string;
  private readonly engineId = randomUUID();
  private readonly machine: StateMachine;
  private readonly taskSpecs = new Map<string, TaskSpec>();
  private readonly waitStates: string[] = [];
  private readonly retryStates: string[] = [];
  private readonly overrides: LocalStepFunctionsOverrides;
  private readonly logger: EngineLogger;
  private readonly running = new Map<string, RunningExecution>();
  private readonly tokens = new Map<string, PendingTask>();
  private readonly spentTokens = new Set<string>();
  private closed = false;

  constructor(options: LocalStepFunctionsOptions) {
    super();
    this.dataDir = options.dataDir;
    this.stateMachineName = options.stateMachineName;
    this.region = options.region ?? 'local';
    this.accountId = options.accountId ?? '000000000000';
    this.stateMachineArn = `arn:aws:states:${this.region}:${this.accountId}:stateMachine:${this.stateMachineName}`;
    this.roleArn = `arn:aws:iam::${this.accountId}:role/${this.stateMachineName}-local`;
    this.overrides = options.overrides ?? {};
    this.logger = options.logger ?? silentLogger;

    let definition: Record<string, unknown>;
    try {
      definition = JSON.parse(options.definition) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`state machine definition is not valid JSON: ${(error as Error).message}`);
    }
    if (definition === null || typeof definition !== 'object' || typeof definition.States !== 'object')
      throw new Error('state machine definition has no "States" object');
    // The library gets a copy: this engine enforces Task timeouts itself (AWS semantics: no
    // TimeoutSeconds means no task timeout, where the library would default to 60 s).
    const forLibrary = structuredClone(definition);
    const missing: string[] = [];
    collectStates(definition.States as Record<string, unknown>, (name, state) => {
      if (state.Type === 'Wait') this.waitStates.push(name);
      if (Array.isArray(state.Retry)) this.retryStates.push(name);
      if (state.Type !== 'Task') return;
      const resource = String(state.Resource);
      const handler = options.tasks[resource];
      if (!handler) {
        missing.push(`state "${name}" uses resource "${resource}"`);
        return;
      }
      this.taskSpecs.set(name, {
        stateName: name,
        resource,
        handler,
        ...(typeof state.TimeoutSeconds === 'number' ? { timeoutSeconds: state.TimeoutSeconds } : {}),
        ...(typeof state.TimeoutSecondsPath === 'string'
          ? { timeoutSecondsPath: state.TimeoutSecondsPath }
          : {}),
        ...(typeof state.HeartbeatSeconds === 'number' ? { heartbeatSeconds: state.HeartbeatSeconds } : {}),
      });
    });
    if (missing.length > 0) throw new Error(`no task handler for: ${missing.join('; ')}`);
    collectStates(forLibrary.States as Record<string, unknown>, (_name, state) => {
      forLibraryErrorEquals(state);
      if (state.Type !== 'Task') return;
      // The library would read TimeoutSecondsPath from the input after `Parameters`; AWS reads it
      // from the state's input. The engine reads it (see runTask) and enforces it.
      delete state.TimeoutSecondsPath;
      state.TimeoutSeconds = maxTimerSeconds;
    });
    if (typeof forLibrary.TimeoutSeconds === 'number' && forLibrary.TimeoutSeconds > maxTimerSeconds)
      forLibrary.TimeoutSeconds = maxTimerSeconds;
    // Local resources carry region "local", which the ARN check would refuse.
    this.machine = new StateMachine(forLibrary as unknown as StateMachineDefinition, {
      validationOptions: { checkArn: false },
    });

    ensureStore(this.dataDir);
    liveEngineIds.add(this.engineId);
    this.recoverStaleExecutions();
  }

  /** ARN of execution `name` of this state machine. */
  executionArnOf(name: string): string {
    return `arn:aws:states:${this.region}:${this.accountId}:execution:${this.stateMachineName}:${name}`;
  }

  /** Name of the execution an ARN designates; throws `InvalidArn`/`ExecutionDoesNotExist` like AWS. */
  executionNameOf(executionArn: string): string {
    if (!/^arn:[^:]+:states:[^:]*:[^:]*:execution:[^:]+:[^:]+$/.test(executionArn))
      throw new InvalidArnError(`Invalid Arn: '${executionArn}'`);
    const prefix = this.executionArnOf('');
    if (!executionArn.startsWith(prefix))
      throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
    return executionArn.slice(prefix.length);
  }

  /**
   * Starts an execution. The same name and the same input while it is RUNNING returns that
   * execution (`alreadyStarted: true`); any other reuse of a name is `ExecutionAlreadyExists`.
   */
  async startExecution(request: {
    name?: string | undefined;
    input?: string | undefined;
  }): Promise<StartExecutionResult> {
    if (this.closed) throw new Error('this LocalStepFunctions engine is closed');
    const name = request.name ?? randomUUID();
    validateExecutionName(name);
    const inputText = request.input ?? '{}';
    if (overLimit(inputText))
      throw new ValidationError(
        `input must be at most ${maxPayloadBytes} bytes of UTF-8, got ${Buffer.byteLength(inputText)}`,
      );
    let input: JsonValue;
    try {
      input = JSON.parse(inputText) as JsonValue;
    } catch (error) {
      throw new InvalidExecutionInputError(
        `Invalid State Machine Execution Input: '${(error as Error).message}'`,
      );
    }
    const executionArn = this.executionArnOf(name);
    const alreadyRunning = this.running.get(name);
    if (alreadyRunning && alreadyRunning.input === inputText)
      return { executionArn, startDate: alreadyRunning.startDate, alreadyStarted: true };
    const stored = alreadyRunning ? undefined : readStoredExecution(this.dataDir, name);
    if (stored?.status === 'RUNNING' && stored.input === inputText)
      return { executionArn, startDate: new Date(stored.startDate), alreadyStarted: true };
    if (alreadyRunning || stored)
      throw new ExecutionAlreadyExistsError(`Execution Already Exists: '${executionArn}'`);

    const startDate = new Date();
    const execution: RunningExecution = {
      name,
      executionArn,
      input: inputText,
      startDate,
      placeholder: `stepline-task-token-placeholder-${randomBytes(12).toString('hex')}`,
      lastEventId: 0,
      closing: false,
      abort: () => {},
      pending: new Set(),
      stateInputs: new Map(),
      eventsDrained: Promise.resolve(),
      done: defer<ExecutionDescription>(),
    };
    this.running.set(name, execution);
    try {
      writeStoredExecution(this.dataDir, this.recordOf(execution, { status: 'RUNNING' }));
      this.record(execution, {
        type: 'ExecutionStarted',
        executionStartedEventDetails: {
          input: inputText,
          inputDetails: { truncated: false },
          roleArn: this.roleArn,
        },
      });
    } catch (error) {
      this.running.delete(name);
      throw error;
    }
    this.logger.info('execution started', { executionArn });

    const run = this.machine.run(input, {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(
          [...this.taskSpecs.values()].map((spec) => [
            spec.stateName,
            (taskInput: JsonValue) => this.runTask(execution, spec, taskInput),
          ]),
        ),
        ...(this.overrides.waitTimeOverrides === undefined
          ? {}
          : {
              waitTimeOverrides: Object.fromEntries(
                this.waitStates.map((state) => [state, this.overrides.waitTimeOverrides as number]),
              ),
            }),
        ...this.perState('retryIntervalOverrides', this.overrides.retryIntervalOverrides, this.retryStates),
      },
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          StartTime: startDate.toISOString(),
          Input: input,
          RoleArn: this.roleArn,
          RedriveCount: 0,
        },
        StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineName },
        Task: { Token: execution.placeholder },
      },
    });
    execution.abort = run.abort;
    execution.eventsDrained = (async () => {
      try {
        for await (const event of run.eventLogs) this.recordLibraryEvent(execution, event);
      } catch (error) {
        this.logger.error('reading the execution events failed', { executionArn, error: String(error) });
      }
    })();
    void this.settle(execution, run.result);
    return { executionArn, startDate, alreadyStarted: false };
  }

  /** `DescribeExecution`: any execution in the store, including earlier lives and other processes. */
  describeExecution(executionArn: string): ExecutionDescription {
    const name = this.executionNameOf(executionArn);
    const record = readStoredExecution(this.dataDir, name);
    if (!record) throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
    return toDescription(record);
  }

  /** `ListExecutions`, newest first. */
  listExecutions(
    request: {
      statusFilter?: ExecutionStatus | undefined;
      maxResults?: number | undefined;
      nextToken?: string | undefined;
    } = {},
  ): {
    executions: ExecutionListItem[];
    nextToken?: string;
  } {
    const records = listStoredExecutions(this.dataDir, (skipped) =>
      this.logger.warn('skipped an execution record that cannot be read', { ...skipped }),
    ).filter(
      (record) =>
        record.stateMachineArn === this.stateMachineArn &&
        (request.statusFilter === undefined || record.status === request.statusFilter),
    );
    const { page, ...rest } = paginate(records, request.maxResults, request.nextToken);
    return {
      executions: page.map((record) => {
        const {
          input: _input,
          output: _output,
          error: _error,
          cause: _cause,
          ...item
        } = toDescription(record);
        return item;
      }),
      ...rest,
    };
  }

  /** `GetExecutionHistory`. */
  getExecutionHistory(
    executionArn: string,
    request: {
      reverseOrder?: boolean | undefined;
      maxResults?: number | undefined;
      nextToken?: string | undefined;
      includeExecutionData?: boolean | undefined;
    } = {},
  ): { events: LocalHistoryEvent[]; nextToken?: string } {
    this.describeExecution(executionArn);
    let events = readHistory(this.dataDir, this.executionNameOf(executionArn), (message) =>
      this.logger.warn(message),
    );
    if (request.reverseOrder) events = events.reverse();
    if (request.includeExecutionData === false) events = events.map(withoutExecutionData);
    const { page, ...rest } = paginate(events, request.maxResults, request.nextToken);
    return { events: page, ...rest };
  }

  /** `StopExecution`: the execution ends ABORTED; a closed execution is left as it is. */
  async stopExecution(
    executionArn: string,
    request: { error?: string | undefined; cause?: string | undefined } = {},
  ): Promise<{ stopDate: Date }> {
    const description = this.describeExecution(executionArn);
    const execution = this.running.get(description.name);
    if (!execution) {
      if (description.status === 'RUNNING')
        throw new ValidationError(
          `execution '${executionArn}' is run by another local runtime process; stop it there`,
        );
      return { stopDate: description.stopDate ?? new Date() };
    }
    this.beginClosing(execution, {
      kind: 'stop',
      ...(request.error === undefined ? {} : { error: request.error }),
      ...(request.cause === undefined ? {} : { cause: request.cause }),
    });
    const final = await execution.done.promise;
    return { stopDate: final.stopDate ?? new Date() };
  }

  /** Resolves with the execution's final description once its record and last history event are on disk. */
  async waitForExecution(executionArn: string): Promise<ExecutionDescription> {
    const name = this.executionNameOf(executionArn);
    const execution = this.running.get(name);
    if (execution) return execution.done.promise;
    for (;;) {
      const description = this.describeExecution(executionArn);
      if (description.status !== 'RUNNING') return description;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** `SendTaskSuccess`: `output` is the task's result as JSON text. */
  sendTaskSuccess(taskToken: string, output: string): void {
    if (overLimit(output))
      throw new ValidationError(
        `output must be at most ${maxPayloadBytes} bytes of UTF-8, got ${Buffer.byteLength(output)}`,
      );
    const task = this.pendingTaskOf(taskToken);
    let value: JsonValue;
    try {
      value = JSON.parse(output) as JsonValue;
    } catch (error) {
      throw new InvalidOutputError(`Invalid Output: '${(error as Error).message}'`);
    }
    this.succeedTask(task, value, output);
  }

  /** `SendTaskFailure`: the task fails with `error` as the error name Retry/Catch match, `cause` as message. */
  sendTaskFailure(taskToken: string, error?: string, cause?: string): void {
    if (error !== undefined && error.length > 256)
      throw new ValidationError(`error must be at most 256 characters, got ${error.length}`);
    if (cause !== undefined && cause.length > 32_768)
      throw new ValidationError(`cause must be at most 32768 characters, got ${cause.length}`);
    const task = this.pendingTaskOf(taskToken);
    const name = error ?? 'States.TaskFailed';
    this.failTask(
      task,
      timeoutErrorNames.has(name) ? timeoutError(name, cause ?? '') : namedError(name, cause ?? ''),
      'failed',
    );
  }

  /** `SendTaskHeartbeat`: restarts the task's `HeartbeatSeconds` clock. */
  sendTaskHeartbeat(taskToken: string): void {
    const task = this.pendingTaskOf(taskToken);
    this.armHeartbeat(task);
  }

  /** Executions this engine runs right now. */
  runningExecutionArns(): string[] {
    return [...this.running.values()].map((execution) => execution.executionArn);
  }

  /**
   * Shuts the engine down: every execution it runs ends FAILED with `Stepline.RuntimeStopped`
   * (its task handlers see their signal aborted), with record and history written.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const executions = [...this.running.values()];
    const cause = `The local runtime stopped at ${new Date().toISOString()} while this execution was running.`;
    for (const execution of executions) this.beginClosing(execution, { kind: 'shutdown', cause });
    await Promise.all(executions.map((execution) => execution.done.promise));
    liveEngineIds.delete(this.engineId);
  }

  private perState<K extends string, T>(
    key: K,
    value: number | Record<string, T> | undefined,
    states: string[],
  ) {
    if (value === undefined) return {};
    const perState =
      typeof value === 'number' ? Object.fromEntries(states.map((state) => [state, value])) : value;
    return { [key]: perState } as { [P in K]: Record<string, T | number> };
  }

  private recordOf(
    execution: RunningExecution,
    final: { status: ExecutionStatus; output?: string; error?: string; cause?: string; stopDate?: Date },
  ): StoredExecution {
    return {
      name: execution.name,
      executionArn: execution.executionArn,
      stateMachineArn: this.stateMachineArn,
      status: final.status,
      input: execution.input,
      ...(final.output === undefined ? {} : { output: final.output }),
      ...(final.error === undefined ? {} : { error: final.error }),
      ...(final.cause === undefined ? {} : { cause: final.cause }),
      startDate: execution.startDate.toISOString(),
      ...(final.stopDate === undefined ? {} : { stopDate: final.stopDate.toISOString() }),
      ownerPid: process.pid,
      ownerId: this.engineId,
    };
  }

  private record(execution: RunningExecution, body: HistoryEventBody): LocalHistoryEvent {
    execution.lastEventId += 1;
    const event = {
      id: execution.lastEventId,
      previousEventId: execution.lastEventId - 1,
      timestamp: new Date(),
      ...body,
    } as LocalHistoryEvent;
    appendHistoryEvent(this.dataDir, execution.name, event, (message) => this.logger.warn(message));
    try {
      this.emit('event', execution.executionArn, event);
    } catch (error) {
      this.logger.error('an execution event listener threw', { error: String(error) });
    }
    return event;
  }

  private recordLibraryEvent(execution: RunningExecution, event: LibEvent): void {
    switch (event.type) {
      case 'StateEntered': {
        if (event.state.type === 'Task') execution.stateInputs.set(event.state.name, event.state.input);
        const type = stateEventType(event.state.type, 'Entered');
        const input = JSON.stringify(event.state.input);
        if (type)
          this.record(execution, {
            type,
            stateEnteredEventDetails: {
              name: event.state.name,
              input,
              inputDetails: { truncated: false },
            },
          });
        if (overLimit(input))
          this.failOnDataLimit(
            execution,
            dataLimitMessage(event.state.name, 'has an input', Buffer.byteLength(input)),
          );
        return;
      }
      case 'StateExited': {
        const type = stateEventType(event.state.type, 'Exited');
        const output = JSON.stringify(event.state.output ?? null);
        if (type)
          this.record(execution, {
            type,
            stateExitedEventDetails: {
              name: event.state.name,
              output,
              outputDetails: { truncated: false },
            },
          });
        if (overLimit(output))
          this.failOnDataLimit(
            execution,
            dataLimitMessage(event.state.name, 'has an output', Buffer.byteLength(output)),
          );
        return;
      }
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed': {
        const details = { name: event.parentState.name, index: event.index };
        this.record(
          execution,
          event.type === 'MapIterationStarted'
            ? { type: event.type, mapIterationStartedEventDetails: details }
            : event.type === 'MapIterationSucceeded'
              ? { type: event.type, mapIterationSucceededEventDetails: details }
              : { type: event.type, mapIterationFailedEventDetails: details },
        );
        return;
      }
      default:
        // Execution-level events are written by `settle`, which knows stop requests and shutdowns;
        // failures, retries and catches show up as the task's own events, as on AWS.
        return;
    }
  }

  private async runTask(
    execution: RunningExecution,
    spec: TaskSpec,
    rawInput: JsonValue,
  ): Promise<JsonValue> {
    if (execution.closing) throw executionClosedError(execution);
    // The library queued StateEntered just before calling this; let the history writer take it
    // first so this task's events follow it.
    await new Promise((resolve) => setImmediate(resolve));
    await libraryTimeoutPrototypeReady;
    if (execution.closing) throw executionClosedError(execution);

    const timeoutSeconds =
      spec.timeoutSecondsPath === undefined
        ? spec.timeoutSeconds
        : timeoutFromPath(spec, execution.stateInputs.get(spec.stateName));
    const waitsForToken = spec.resource.endsWith('.waitForTaskToken');
    const token = waitsForToken ? newTaskToken() : undefined;
    const input = token === undefined ? rawInput : replaceDeep(rawInput, execution.placeholder, token);
    const heartbeatSeconds = waitsForToken
      ? spec.heartbeatSeconds === undefined
        ? undefined
        : (this.overrides.heartbeatSecondsOverride ?? spec.heartbeatSeconds)
      : undefined;
    const kind = resourceKind(spec.resource);
    const inputText = JSON.stringify(input);
    if (execution.dataLimitExceeded) throw dataLimitError(execution.dataLimitExceeded);
    if (overLimit(inputText))
      throw dataLimitError(dataLimitMessage(spec.stateName, 'has parameters', Buffer.byteLength(inputText)));
    if (kind.kind === 'lambda') {
      this.record(execution, {
        type: 'LambdaFunctionScheduled',
        lambdaFunctionScheduledEventDetails: {
          resource: kind.resource,
          input: inputText,
          inputDetails: { truncated: false },
          ...(timeoutSeconds === undefined ? {} : { timeoutInSeconds: timeoutSeconds }),
        },
      });
      this.record(execution, { type: 'LambdaFunctionStarted' });
    } else {
      this.record(execution, {
        type: 'TaskScheduled',
        taskScheduledEventDetails: {
          resourceType: kind.resourceType,
          resource: kind.resource,
          region: this.region,
          parameters: inputText,
          ...(timeoutSeconds === undefined ? {} : { timeoutInSeconds: timeoutSeconds }),
          ...(heartbeatSeconds === undefined ? {} : { heartbeatInSeconds: Math.ceil(heartbeatSeconds) }),
        },
      });
      this.record(execution, {
        type: 'TaskStarted',
        taskStartedEventDetails: { resourceType: kind.resourceType, resource: kind.resource },
      });
    }

    const task: PendingTask = {
      spec,
      execution,
      ...(token === undefined ? {} : { token }),
      controller: new AbortController(),
      outcome: defer<JsonValue>(),
      settled: false,
      timers: [],
    };
    execution.pending.add(task);
    if (token !== undefined) this.tokens.set(token, task);
    if (timeoutSeconds !== undefined) {
      task.timers.push(
        setTimeout(
          () =>
            this.failTaskFromTimer(
              task,
              timeoutError(
                'States.Timeout',
                `task ${spec.stateName} did not finish within its TimeoutSeconds (${timeoutSeconds} s)`,
              ),
            ),
          Math.min(timeoutSeconds, maxTimerSeconds) * 1000,
        ),
      );
    }
    if (heartbeatSeconds !== undefined) {
      task.heartbeatSeconds = heartbeatSeconds;
      this.armHeartbeat(task);
    }

    const context: TaskContext = {
      executionArn: execution.executionArn,
      executionName: execution.name,
      stateName: spec.stateName,
      resource: spec.resource,
      ...(token === undefined ? {} : { taskToken: token }),
      signal: task.controller.signal,
    };
    Promise.resolve()
      .then(() => spec.handler(input, context))
      .then(
        (result) => {
          if (!waitsForToken) {
            let value: JsonValue;
            let text: string;
            try {
              text = JSON.stringify(result ?? null);
              value = JSON.parse(text) as JsonValue;
            } catch (error) {
              this.failTask(task, runtimeError(`task result is not JSON: ${String(error)}`), 'failed');
              return;
            }
            if (overLimit(text)) {
              this.failTask(
                task,
                dataLimitError(
                  dataLimitMessage(spec.stateName, 'returned a result', Buffer.byteLength(text)),
                ),
                'failed',
              );
              return;
            }
            this.succeedTask(task, value, text);
          } else if (!task.settled && kind.kind === 'service') {
            this.record(execution, {
              type: 'TaskSubmitted',
              taskSubmittedEventDetails: {
                resourceType: kind.resourceType,
                resource: kind.resource,
                output: JSON.stringify(result ?? null) ?? 'null',
                outputDetails: { truncated: false },
              },
            });
          }
        },
        (error: unknown) => this.failTask(task, toError(error), 'failed'),
      )
      .catch((error: unknown) =>
        this.logger.error('recording a task outcome failed', {
          executionArn: execution.executionArn,
          stateName: spec.stateName,
          error: String(error),
        }),
      );
    return task.outcome.promise;
  }

  private pendingTaskOf(taskToken: string): PendingTask {
    if (!tokenPattern.test(taskToken))
      throw new InvalidTokenError(`Invalid Token: '${taskToken.slice(0, 64)}'`);
    const task = this.tokens.get(taskToken);
    if (task) return task;
    if (this.spentTokens.has(taskToken))
      throw new TaskTimedOutError('Task Timed Out: the task of this token has already closed');
    throw new TaskDoesNotExistError('Task Does Not Exist: this local runtime did not issue this token');
  }

  private armHeartbeat(task: PendingTask): void {
    if (task.heartbeatSeconds === undefined || task.settled) return;
    if (task.heartbeat) clearTimeout(task.heartbeat);
    const seconds = task.heartbeatSeconds;
    task.heartbeat = setTimeout(
      () =>
        this.failTaskFromTimer(
          task,
          timeoutError(
            'States.HeartbeatTimeout',
            `task ${task.spec.stateName} sent no heartbeat for ${seconds} s (HeartbeatSeconds)`,
          ),
        ),
      Math.min(seconds, maxTimerSeconds) * 1000,
    );
  }

  /** A timer has no caller to throw to: a failed history write is logged, the task fails all the same. */
  private failTaskFromTimer(task: PendingTask, error: Error): void {
    try {
      this.failTask(task, error, 'timedOut');
    } catch (thrown) {
      this.logger.error('recording a task timeout failed', {
        executionArn: task.execution.executionArn,
        stateName: task.spec.stateName,
        error: String(thrown),
      });
    }
  }

  /** Marks a task closed; false when it already was. */
  private closeTask(task: PendingTask): boolean {
    if (task.settled) return false;
    task.settled = true;
    for (const timer of task.timers) clearTimeout(timer);
    if (task.heartbeat) clearTimeout(task.heartbeat);
    task.execution.pending.delete(task);
    if (task.token !== undefined) {
      this.tokens.delete(task.token);
      this.spentTokens.add(task.token);
    }
    return true;
  }

  private succeedTask(task: PendingTask, value: JsonValue, output: string): void {
    if (!this.closeTask(task)) return;
    try {
      this.recordTaskSuccess(task, output);
    } finally {
      task.outcome.resolve(value);
    }
  }

  private recordTaskSuccess(task: PendingTask, output: string): void {
    const kind = resourceKind(task.spec.resource);
    this.record(
      task.execution,
      kind.kind === 'lambda'
        ? {
            type: 'LambdaFunctionSucceeded',
            lambdaFunctionSucceededEventDetails: { output, outputDetails: { truncated: false } },
          }
        : {
            type: 'TaskSucceeded',
            taskSucceededEventDetails: {
              resourceType: kind.resourceType,
              resource: kind.resource,
              output,
              outputDetails: { truncated: false },
            },
          },
    );
  }

  private failTask(task: PendingTask, error: Error, how: 'failed' | 'timedOut' | 'closing'): void {
    if (!this.closeTask(task)) return;
    try {
      task.controller.abort(error);
      if (how !== 'closing') this.recordTaskFailure(task, error, how);
    } finally {
      task.outcome.reject(error);
    }
  }

  private recordTaskFailure(task: PendingTask, error: Error, how: 'failed' | 'timedOut'): void {
    const kind = resourceKind(task.spec.resource);
    const details = { error: error.name, cause: error.message };
    if (kind.kind === 'lambda') {
      this.record(
        task.execution,
        how === 'failed'
          ? { type: 'LambdaFunctionFailed', lambdaFunctionFailedEventDetails: details }
          : { type: 'LambdaFunctionTimedOut', lambdaFunctionTimedOutEventDetails: details },
      );
    } else {
      const service = { resourceType: kind.resourceType, resource: kind.resource, ...details };
      this.record(
        task.execution,
        how === 'failed'
          ? { type: 'TaskFailed', taskFailedEventDetails: service }
          : { type: 'TaskTimedOut', taskTimedOutEventDetails: service },
      );
    }
  }

  /** A state's data passed the limit: nothing more runs, and the execution fails with it. */
  private failOnDataLimit(execution: RunningExecution, message: string): void {
    if (execution.dataLimitExceeded !== undefined) return;
    execution.dataLimitExceeded = message;
    this.beginClosing(execution);
    execution.abort();
  }

  private beginClosing(execution: RunningExecution, stop?: StopRequest): void {
    if (stop && !execution.closing) execution.stopRequest = stop;
    execution.closing = true;
    for (const task of [...execution.pending])
      this.failTask(task, executionClosedError(execution), 'closing');
    if (stop) execution.abort();
  }

  private async settle(execution: RunningExecution, result: Promise<JsonValue>): Promise<void> {
    type Final = { status: ExecutionStatus; output?: string; error?: string; cause?: string };
    let final: Final;
    try {
      const output = await result;
      final = { status: 'SUCCEEDED', output: JSON.stringify(output ?? null) };
    } catch (thrown) {
      final = this.finalOfFailure(execution, thrown);
    }
    let stopDate: Date | undefined;
    try {
      this.beginClosing(execution);
      await execution.eventsDrained;
      if (execution.dataLimitExceeded !== undefined)
        final = { status: 'FAILED', error: 'States.DataLimitExceeded', cause: execution.dataLimitExceeded };
      this.recordExecutionEnd(execution, final);
      stopDate = new Date();
      writeStoredExecution(this.dataDir, this.recordOf(execution, { ...final, stopDate }));
      this.logger.info('execution closed', { executionArn: execution.executionArn, status: final.status });
    } catch (error) {
      // settle runs unawaited: a failed write (disk full) must not become an unhandled rejection.
      this.logger.error('cannot record the end of an execution; its stored record may still say RUNNING', {
        executionArn: execution.executionArn,
        status: final.status,
        error: String(error),
      });
    } finally {
      this.running.delete(execution.name);
      execution.done.resolve(
        toDescription(this.recordOf(execution, { ...final, stopDate: stopDate ?? new Date() })),
      );
    }
  }

  private recordExecutionEnd(
    execution: RunningExecution,
    final: { status: ExecutionStatus; output?: string; error?: string; cause?: string },
  ): void {
    const details = {
      ...(final.error === undefined ? {} : { error: final.error }),
      ...(final.cause === undefined ? {} : { cause: final.cause }),
    };
    switch (final.status) {
      case 'SUCCEEDED':
        this.record(execution, {
          type: 'ExecutionSucceeded',
          executionSucceededEventDetails: {
            output: final.output ?? 'null',
            outputDetails: { truncated: false },
          },
        });
        break;
      case 'ABORTED':
        this.record(execution, { type: 'ExecutionAborted', executionAbortedEventDetails: details });
        break;
      case 'TIMED_OUT':
        this.record(execution, { type: 'ExecutionTimedOut', executionTimedOutEventDetails: details });
        break;
      default:
        this.record(execution, { type: 'ExecutionFailed', executionFailedEventDetails: details });
    }
  }

  private finalOfFailure(
    execution: RunningExecution,
    thrown: unknown,
  ): { status: ExecutionStatus; error?: string; cause?: string } {
    if (thrown instanceof ExecutionAbortedError) {
      const stop = execution.stopRequest;
      if (stop?.kind === 'shutdown')
        return { status: 'FAILED', error: runtimeStoppedError, cause: stop.cause };
      return {
        status: 'ABORTED',
        ...(stop?.error === undefined ? {} : { error: stop.error }),
        ...(stop?.cause === undefined ? {} : { cause: stop.cause }),
      };
    }
    if (thrown instanceof ExecutionTimeoutError)
      return {
        status: 'TIMED_OUT',
        error: 'States.Timeout',
        cause: "The execution ran longer than the state machine's TimeoutSeconds.",
      };
    const error =
      thrown instanceof ExecutionError && thrown.cause !== undefined
        ? toError(thrown.cause)
        : toError(thrown);
    return { status: 'FAILED', error: error.name, ...(error.message === '' ? {} : { cause: error.message }) };
  }

  /**
   * Marks FAILED every RUNNING execution in the store whose engine is gone: its process has exited,
   * or it is this process and no live engine here owns it. A token dies with its process, so such
   * an execution could never finish.
   */
  private recoverStaleExecutions(): void {
    const warn = (message: string) => this.logger.warn(message);
    const records = listStoredExecutions(this.dataDir, (skipped) =>
      this.logger.warn('skipped an execution record that cannot be read', { ...skipped }),
    );
    for (const record of records) {
      if (record.status !== 'RUNNING') continue;
      const stale =
        record.ownerPid === process.pid
          ? !liveEngineIds.has(record.ownerId)
          : !isProcessAlive(record.ownerPid);
      if (!stale) continue;
      // A crash mid-append leaves a torn last line: cut it off so ExecutionFailed gets a line of its own.
      const torn = repairHistoryTail(this.dataDir, record.name);
      if (torn !== undefined)
        this.logger.warn('removed a torn last line from the history of an execution', {
          executionArn: record.executionArn,
          fragment: torn,
        });
      const history = readHistory(this.dataDir, record.name, warn);
      const last = history.at(-1);
      const now = new Date();
      const cause =
        `The local runtime (process ${record.ownerPid}) stopped while this execution was running` +
        `${last ? `; its last event was at ${last.timestamp.toISOString()}` : ''}. ` +
        `Noticed at ${now.toISOString()}.`;
      const id = (last?.id ?? 0) + 1;
      appendHistoryEvent(
        this.dataDir,
        record.name,
        {
          id,
          previousEventId: id - 1,
          timestamp: now,
          type: 'ExecutionFailed',
          executionFailedEventDetails: { error: runtimeStoppedError, cause },
        },
        warn,
      );
      writeStoredExecution(this.dataDir, {
        ...record,
        status: 'FAILED',
        error: runtimeStoppedError,
        cause,
        stopDate: now.toISOString(),
      });
      this.logger.warn('marked an execution left RUNNING by a stopped runtime as FAILED', {
        executionArn: record.executionArn,
      });
    }
  }
}
