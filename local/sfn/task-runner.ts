import type { EngineLogger, LocalStepFunctionsOverrides, TaskContext } from './api-types.ts';
import { maxTimerSeconds, type TaskSpec } from './definition.ts';
import type { HistoryRecorder } from './history-recorder.ts';
import { dataLimitError, dataLimitMessage, overLimit } from './payload-limits.ts';
import { defer, type JsonValue, type PendingTask, type RunningExecution } from './running-execution.ts';
import {
  executionClosedError,
  libraryTimeoutPrototypeReady,
  runtimeError,
  timeoutError,
  toError,
} from './states-errors.ts';
import { newTaskToken, type TaskTokens, withTaskToken } from './task-tokens.ts';

/**
 * Runs Task states: calls the state's handler, issues a task token for `.waitForTaskToken`
 * resources, enforces `TimeoutSeconds`/`TimeoutSecondsPath` and `HeartbeatSeconds`, and closes each
 * task exactly once (success, failure, timeout, or its execution closing), aborting the handler's
 * signal when it did not succeed.
 */
export class TaskRunner {
  constructor(
    private readonly history: HistoryRecorder,
    private readonly tokens: TaskTokens,
    private readonly overrides: LocalStepFunctionsOverrides,
    private readonly logger: EngineLogger,
  ) {}

  /** Runs one attempt of `spec` in `execution`; resolves with the task's result, rejects with its error. */
  async run(execution: RunningExecution, spec: TaskSpec, rawInput: JsonValue): Promise<JsonValue> {
    if (execution.closing) throw executionClosedError(execution.name);
    // The library queued StateEntered just before calling this; let the history writer take it
    // first so this task's events follow it.
    await new Promise((resolve) => setImmediate(resolve));
    await libraryTimeoutPrototypeReady;
    if (execution.closing) throw executionClosedError(execution.name);

    const timeoutSeconds =
      spec.timeoutSecondsPath === undefined
        ? spec.timeoutSeconds
        : timeoutFromPath(spec, execution.stateInputs.get(spec.stateName));
    const waitsForToken = spec.resource.endsWith('.waitForTaskToken');
    const token = waitsForToken ? newTaskToken() : undefined;
    const input = token === undefined ? rawInput : withTaskToken(rawInput, execution.placeholder, token);
    const heartbeatSeconds = waitsForToken
      ? spec.heartbeatSeconds === undefined
        ? undefined
        : (this.overrides.heartbeatSecondsOverride ?? spec.heartbeatSeconds)
      : undefined;
    const inputText = JSON.stringify(input);
    if (execution.dataLimitExceeded) throw dataLimitError(execution.dataLimitExceeded);
    if (overLimit(inputText))
      throw dataLimitError(dataLimitMessage(spec.stateName, 'has parameters', Buffer.byteLength(inputText)));
    this.history.taskStarted(execution, spec.resource, inputText, timeoutSeconds, heartbeatSeconds);

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
    if (token !== undefined) this.tokens.issue(token, task);
    if (timeoutSeconds !== undefined) {
      task.timers.push(
        setTimeout(
          () =>
            this.failFromTimer(
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
      this.heartbeat(task);
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
              this.fail(task, runtimeError(`task result is not JSON: ${String(error)}`), 'failed');
              return;
            }
            if (overLimit(text)) {
              this.fail(
                task,
                dataLimitError(
                  dataLimitMessage(spec.stateName, 'returned a result', Buffer.byteLength(text)),
                ),
                'failed',
              );
              return;
            }
            this.succeed(task, value, text);
          } else if (!task.settled) {
            this.history.taskSubmitted(task, result);
          }
        },
        (error: unknown) => this.fail(task, toError(error), 'failed'),
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

  /** (Re)starts the task's `HeartbeatSeconds` clock, if it has one. */
  heartbeat(task: PendingTask): void {
    if (task.heartbeatSeconds === undefined || task.settled) return;
    if (task.heartbeat) clearTimeout(task.heartbeat);
    const seconds = task.heartbeatSeconds;
    task.heartbeat = setTimeout(
      () =>
        this.failFromTimer(
          task,
          timeoutError(
            'States.HeartbeatTimeout',
            `task ${task.spec.stateName} sent no heartbeat for ${seconds} s (HeartbeatSeconds)`,
          ),
        ),
      Math.min(seconds, maxTimerSeconds) * 1000,
    );
  }

  /** The task succeeded with `value` (`output` as JSON text); nothing happens if it has closed already. */
  succeed(task: PendingTask, value: JsonValue, output: string): void {
    if (!this.close(task)) return;
    try {
      this.history.taskSucceeded(task, output);
    } finally {
      task.outcome.resolve(value);
    }
  }

  /**
   * The task failed (`failed`), timed out (`timedOut`), or its execution is closing (`closing`, which
   * records nothing); its handler's signal is aborted. Nothing happens if it has closed already.
   */
  fail(task: PendingTask, error: Error, how: 'failed' | 'timedOut' | 'closing'): void {
    if (!this.close(task)) return;
    try {
      task.controller.abort(error);
      if (how !== 'closing') this.history.taskFailed(task, error, how);
    } finally {
      task.outcome.reject(error);
    }
  }

  /** A timer has no caller to throw to: a failed history write is logged, the task fails all the same. */
  private failFromTimer(task: PendingTask, error: Error): void {
    try {
      this.fail(task, error, 'timedOut');
    } catch (thrown) {
      this.logger.error('recording a task timeout failed', {
        executionArn: task.execution.executionArn,
        stateName: task.spec.stateName,
        error: String(thrown),
      });
    }
  }

  /** Marks a task closed; false when it already was. */
  private close(task: PendingTask): boolean {
    if (task.settled) return false;
    task.settled = true;
    for (const timer of task.timers) clearTimeout(timer);
    if (task.heartbeat) clearTimeout(task.heartbeat);
    task.execution.pending.delete(task);
    if (task.token !== undefined) this.tokens.retire(task.token);
    return true;
  }
}

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
