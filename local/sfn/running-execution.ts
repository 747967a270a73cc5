import type { StateMachine } from 'aws-local-stepfunctions';
import type { ExecutionDescription } from './api-types.ts';
import type { TaskSpec } from './definition.ts';

/**
 * What the engine keeps in memory for an execution it runs, and for each task of it that is open.
 * Only the engine's own modules use these shapes.
 */

export type JsonValue = Parameters<StateMachine['run']>[0];
/** One event of aws-local-stepfunctions' event log. */
export type LibEvent =
  ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

export type Deferred<T> = {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
};

export function defer<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A Task state's attempt that has started and not yet closed. */
export type PendingTask = {
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

export type StopRequest =
  | { kind: 'stop'; error?: string; cause?: string }
  | { kind: 'shutdown'; cause: string };

export type RunningExecution = {
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
  /** Set when a state's input or output passed the payload limit: the execution fails with it. */
  dataLimitExceeded?: string;
  /** Set once the history cap's `ExecutionFailed` is written: nothing more is recorded. */
  historyLimitReached?: boolean;
  eventsDrained: Promise<void>;
  done: Deferred<ExecutionDescription>;
  /** 0, or how many times it was redriven; this life is the last of them. */
  redriveCount: number;
  redriveDate?: Date;
  redriveClientTokens?: Array<{ token: string; redriveDate: string }>;
};
