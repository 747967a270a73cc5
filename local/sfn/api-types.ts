import type { ExecutionStatus } from './store.ts';

/**
 * The types of the local Step Functions engine's public API: what task handlers receive, the
 * engine's options, and the shapes its calls return. `engine.ts` re-exports all of them.
 */

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

export const silentLogger: EngineLogger = { info() {}, warn() {}, error() {} };

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
  /**
   * The history cap, for tests only: AWS's is 25,000 events (`maxHistoryEvents`), which is what the
   * engine uses without this.
   */
  readonly historyEventLimit?: number;
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
  /** How many times it was redriven (0 if never). */
  redriveCount: number;
  /** When it was last redriven. */
  redriveDate?: Date;
  /** Whether `RedriveExecution` would accept it now. */
  redriveStatus: 'REDRIVABLE' | 'NOT_REDRIVABLE';
  /** Why not, when `NOT_REDRIVABLE` (AWS's words, e.g. `Execution is SUCCEEDED and cannot be redriven`). */
  redriveStatusReason?: string;
}

/** One item of `ListExecutions`. */
export type ExecutionListItem = Pick<
  ExecutionDescription,
  | 'executionArn'
  | 'stateMachineArn'
  | 'name'
  | 'status'
  | 'startDate'
  | 'stopDate'
  | 'redriveCount'
  | 'redriveDate'
>;

/** `RedriveExecution`'s answer. */
export interface RedriveExecutionResult {
  redriveDate: Date;
}

export interface StartExecutionResult {
  executionArn: string;
  startDate: Date;
  /** True when a RUNNING execution with this name and the same input already existed. */
  alreadyStarted: boolean;
}
