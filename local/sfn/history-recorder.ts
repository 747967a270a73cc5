import type { EngineLogger } from './api-types.ts';
import { type HistoryEventBody, resourceKind, stateEventType } from './history.ts';
import { dataLimitMessage, overLimit } from './payload-limits.ts';
import type { LibEvent, PendingTask, RunningExecution } from './running-execution.ts';
import { appendHistoryEvent, type ExecutionStatus, type LocalHistoryEvent } from './store.ts';

/** Step Functions' hard quota of events in one execution's history (Standard workflows). */
export const maxHistoryEvents = 25_000;

/** The error and cause of an execution failed by the history cap, in AWS's words. */
export function historyLimitFailure(limit: number): { error: string; cause: string } {
  return {
    error: 'States.Runtime',
    cause: `The execution reached the maximum number of history events (${limit}).`,
  };
}

/** How an execution ended, as its record and last history event say. */
export type ExecutionFinal = { status: ExecutionStatus; output?: string; error?: string; cause?: string };

/**
 * Writes an execution's Step Functions history: numbers each event, appends it to the store and
 * tells the engine's listeners. Knows which event types and details AWS records for executions,
 * states (from aws-local-stepfunctions' event log), Lambda functions and service integrations.
 *
 * Enforces the history cap as AWS does: when event number `limit` (25,000) would be anything but
 * `ExecutionSucceeded`, that event is `ExecutionFailed` with `States.Runtime` ("The execution reached
 * the maximum number of history events (25000)."), `onLimit` is told so the engine stops the
 * execution, and nothing more is recorded.
 */
export class HistoryRecorder {
  constructor(
    private readonly dataDir: string,
    private readonly region: string,
    private readonly logger: EngineLogger,
    private readonly emit: (executionArn: string, event: LocalHistoryEvent) => void,
    private readonly limit: number = maxHistoryEvents,
    private readonly onLimit: (execution: RunningExecution) => void = () => {},
  ) {}

  /**
   * Appends one event to `execution`'s history and emits it. At the history cap the event is
   * replaced by the cap's `ExecutionFailed` (see the class); past it, nothing is written.
   */
  record(execution: RunningExecution, body: HistoryEventBody): LocalHistoryEvent | undefined {
    if (execution.historyLimitReached) return undefined;
    if (execution.lastEventId + 1 >= this.limit && body.type !== 'ExecutionSucceeded') {
      execution.historyLimitReached = true;
      const event = this.append(execution, {
        type: 'ExecutionFailed',
        executionFailedEventDetails: historyLimitFailure(this.limit),
      });
      this.onLimit(execution);
      return event;
    }
    return this.append(execution, body);
  }

  private append(execution: RunningExecution, body: HistoryEventBody): LocalHistoryEvent {
    execution.lastEventId += 1;
    const event = {
      id: execution.lastEventId,
      previousEventId: execution.lastEventId - 1,
      timestamp: new Date(),
      ...body,
    } as LocalHistoryEvent;
    appendHistoryEvent(this.dataDir, execution.name, event, (message) => this.logger.warn(message));
    try {
      this.emit(execution.executionArn, event);
    } catch (error) {
      this.logger.error('an execution event listener threw', { error: String(error) });
    }
    return event;
  }

  executionStarted(execution: RunningExecution, roleArn: string): void {
    this.record(execution, {
      type: 'ExecutionStarted',
      executionStartedEventDetails: {
        input: execution.input,
        inputDetails: { truncated: false },
        roleArn,
      },
    });
  }

  executionEnded(execution: RunningExecution, final: ExecutionFinal): void {
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

  /**
   * Records a state event of the library's log. A state input or output over the payload limit is
   * passed to `onDataLimit` with AWS's message.
   */
  libraryEvent(
    execution: RunningExecution,
    event: LibEvent,
    onDataLimit: (execution: RunningExecution, message: string) => void,
  ): void {
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
          onDataLimit(
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
          onDataLimit(
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
        // Execution-level events are written by the engine, which knows stop requests and shutdowns;
        // failures, retries and catches show up as the task's own events, as on AWS.
        return;
    }
  }

  /** `LambdaFunctionScheduled`/`Started`, or `TaskScheduled`/`Started` for a service integration. */
  taskStarted(
    execution: RunningExecution,
    resource: string,
    inputText: string,
    timeoutSeconds: number | undefined,
    heartbeatSeconds: number | undefined,
  ): void {
    const kind = resourceKind(resource);
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
  }

  /** `TaskSubmitted` for a `.waitForTaskToken` service integration whose launch returned `result`. */
  taskSubmitted(task: PendingTask, result: unknown): void {
    const kind = resourceKind(task.spec.resource);
    if (kind.kind !== 'service') return;
    this.record(task.execution, {
      type: 'TaskSubmitted',
      taskSubmittedEventDetails: {
        resourceType: kind.resourceType,
        resource: kind.resource,
        output: JSON.stringify(result ?? null) ?? 'null',
        outputDetails: { truncated: false },
      },
    });
  }

  taskSucceeded(task: PendingTask, output: string): void {
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

  taskFailed(task: PendingTask, error: Error, how: 'failed' | 'timedOut'): void {
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
}
