import '#local/polyfills.ts';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  type StateMachine,
} from 'aws-local-stepfunctions';
import type {
  EngineLogger,
  ExecutionDescription,
  ExecutionListItem,
  LocalStepFunctionsOptions,
  LocalStepFunctionsOverrides,
  RedriveExecutionResult,
  StartExecutionResult,
} from './api-types.ts';
import { silentLogger } from './api-types.ts';
import {
  type CompiledDefinition,
  compileDefinition,
  libraryTimeOverrides,
  parseDefinition,
} from './definition.ts';
import {
  ExecutionAlreadyExistsError,
  ExecutionDoesNotExistError,
  ExecutionNotRedrivableError,
  ValidationError,
} from './errors.ts';
import { withoutExecutionData } from './history.ts';
import {
  type ExecutionFinal,
  HistoryRecorder,
  historyLimitFailure,
  maxHistoryEvents,
} from './history-recorder.ts';
import { assertWithinPayloadLimit } from './payload-limits.ts';
import { engineStarted, engineStopped, recoverStaleExecutions, runtimeStoppedError } from './recovery.ts';
import { notRedrivableReason, restartPoint } from './redrive.ts';
import { defer, type JsonValue, type RunningExecution, type StopRequest } from './running-execution.ts';
import {
  executionClosedError,
  namedError,
  timeoutError,
  timeoutErrorNames,
  toError,
} from './states-errors.ts';
import {
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
import { TaskRunner } from './task-runner.ts';
import { newTokenPlaceholder, TaskTokens } from './task-tokens.ts';
import {
  executionNameFromArn,
  paginate,
  parseExecutionInput,
  parseTaskOutput,
  validateExecutionName,
  validateTaskFailure,
} from './validation.ts';

// Every name this module exported before its concerns got files of their own stays importable here.
export type {
  EngineLogger,
  ExecutionDescription,
  ExecutionListItem,
  LocalStepFunctionsOptions,
  LocalStepFunctionsOverrides,
  RedriveExecutionResult,
  StartExecutionResult,
  TaskContext,
  TaskHandler,
} from './api-types.ts';
export { maxHistoryEvents } from './history-recorder.ts';
export { dataLimitError } from './payload-limits.ts';
export { runtimeStoppedError } from './recovery.ts';
export { runtimeError } from './states-errors.ts';
export { newTaskToken } from './task-tokens.ts';
export { validateExecutionName } from './validation.ts';

function listItemOf(record: StoredExecution): ExecutionListItem {
  return {
    executionArn: record.executionArn,
    stateMachineArn: record.stateMachineArn,
    name: record.name,
    status: record.status,
    startDate: new Date(record.startDate),
    ...(record.stopDate === undefined ? {} : { stopDate: new Date(record.stopDate) }),
    redriveCount: record.redriveCount ?? 0,
    ...(record.redriveDate === undefined ? {} : { redriveDate: new Date(record.redriveDate) }),
  };
}

/**
 * Step Functions on one machine: runs a JSONPath ASL definition with aws-local-stepfunctions and
 * adds what that library lacks — task tokens (`.waitForTaskToken`), `HeartbeatSeconds`, AWS-like
 * task timeouts, named idempotent executions, a history on disk and recovery after a crash. This
 * class holds the executions' life (start, stop, settle, shutdown) and the API; each concern it
 * draws on has its own file (see the imports).
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
  private readonly compiled: CompiledDefinition;
  private readonly machine: StateMachine;
  private readonly overrides: LocalStepFunctionsOverrides;
  private readonly logger: EngineLogger;
  private readonly running = new Map<string, RunningExecution>();
  private readonly tokens = new TaskTokens();
  private readonly history: HistoryRecorder;
  private readonly historyLimit: number;
  private readonly tasks: TaskRunner;
  private readonly taskHandlers: LocalStepFunctionsOptions['tasks'];
  /** The definition compiled with each top-level state as `StartAt`, for redrives. */
  private readonly redriveMachines = new Map<string, CompiledDefinition>();
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
    this.taskHandlers = options.tasks;
    this.compiled = compileDefinition(parseDefinition(options.definition), options.tasks);
    this.machine = this.compiled.machine;
    this.historyLimit = this.overrides.historyEventLimit ?? maxHistoryEvents;
    this.history = new HistoryRecorder(
      this.dataDir,
      this.region,
      this.logger,
      (arn, event) => this.emit('event', arn, event),
      this.historyLimit,
      (execution) => this.failOnHistoryLimit(execution),
    );
    this.tasks = new TaskRunner(this.history, this.tokens, this.overrides, this.logger);

    ensureStore(this.dataDir);
    engineStarted(this.engineId);
    recoverStaleExecutions(this.dataDir, this.logger);
  }

  /** ARN of execution `name` of this state machine. */
  executionArnOf(name: string): string {
    return `arn:aws:states:${this.region}:${this.accountId}:execution:${this.stateMachineName}:${name}`;
  }

  /** Name of the execution an ARN designates; throws `InvalidArn`/`ExecutionDoesNotExist` like AWS. */
  executionNameOf(executionArn: string): string {
    return executionNameFromArn(executionArn, this.executionArnOf(''));
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
    assertWithinPayloadLimit('input', inputText);
    const input = parseExecutionInput(inputText);
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
    const execution = this.newRunningExecution(name, inputText, startDate);
    this.running.set(name, execution);
    try {
      writeStoredExecution(this.dataDir, this.recordOf(execution, { status: 'RUNNING' }));
      this.history.executionStarted(execution, this.roleArn);
    } catch (error) {
      this.running.delete(name);
      throw error;
    }
    this.logger.info('execution started', { executionArn });
    this.launch(execution, this.compiled, input);
    return { executionArn, startDate, alreadyStarted: false };
  }

  /**
   * `RedriveExecution`: restarts a FAILED, TIMED_OUT or ABORTED execution (stopped less than 14 days
   * ago) at the state where it stopped, with that state's original input, under the same name and
   * ARN. The history goes on: `ExecutionRedriven` (with the new `redriveCount`), then the rerun. A
   * `clientToken` of one of the last 10 redrives returns that redrive again. Anything else is
   * `ExecutionNotRedrivable`, with AWS's reason.
   */
  async redriveExecution(
    executionArn: string,
    request: { clientToken?: string | undefined } = {},
  ): Promise<RedriveExecutionResult> {
    if (this.closed) throw new Error('this LocalStepFunctions engine is closed');
    const name = this.executionNameOf(executionArn);
    const record = readStoredExecution(this.dataDir, name);
    if (!record) throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
    const earlier = request.clientToken
      ? record.redriveClientTokens?.find((used) => used.token === request.clientToken)
      : undefined;
    if (earlier) return { redriveDate: new Date(earlier.redriveDate) };
    if (this.running.has(name))
      throw new ExecutionNotRedrivableError('Execution is RUNNING and cannot be redriven');
    const warn = (message: string) => this.logger.warn(message);
    const torn = repairHistoryTail(this.dataDir, name);
    if (torn !== undefined) warn(`removed a torn last line from the history of execution "${name}"`);
    const history = readHistory(this.dataDir, name, warn);
    const redriveDate = new Date();
    const reason = notRedrivableReason(record, history.length, this.historyLimit, redriveDate);
    if (reason) throw new ExecutionNotRedrivableError(reason);

    const point = restartPoint(this.compiled.definition, history, record.input);
    const compiled = this.compiledFrom(point.stateName);
    const execution = this.newRunningExecution(name, record.input, new Date(record.startDate));
    execution.lastEventId = history.at(-1)?.id ?? 0;
    execution.redriveCount = (record.redriveCount ?? 0) + 1;
    execution.redriveDate = redriveDate;
    execution.redriveClientTokens = [
      ...(record.redriveClientTokens ?? []),
      ...(request.clientToken
        ? [{ token: request.clientToken, redriveDate: redriveDate.toISOString() }]
        : []),
    ].slice(-10);
    this.running.set(name, execution);
    try {
      writeStoredExecution(this.dataDir, this.recordOf(execution, { status: 'RUNNING' }));
      this.history.record(execution, {
        type: 'ExecutionRedriven',
        executionRedrivenEventDetails: { redriveCount: execution.redriveCount },
      });
    } catch (error) {
      this.running.delete(name);
      throw error;
    }
    this.logger.info('execution redriven', {
      executionArn,
      redriveCount: execution.redriveCount,
      from: point.stateName,
    });
    this.launch(execution, compiled, point.input);
    return { redriveDate };
  }

  /**
   * Redrives every execution that a stop of the runtime ended (FAILED with `Stepline.RuntimeStopped`:
   * at Ctrl-C, or found left RUNNING after a crash) whose unfinished state passes `select` — e.g.
   * those that waited in `RequestApproval`, whose task then runs again with a new task token. An
   * execution that cannot be redriven (too old, …) is skipped. Returns the ARNs redriven.
   */
  async redriveStoppedByRuntime(
    select: (stopped: { executionArn: string; name: string; stateName: string }) => boolean,
  ): Promise<string[]> {
    const redriven: string[] = [];
    const records = listStoredExecutions(this.dataDir, () => {}).filter(
      (record) =>
        record.stateMachineArn === this.stateMachineArn &&
        record.status === 'FAILED' &&
        record.error === runtimeStoppedError &&
        !this.running.has(record.name),
    );
    for (const record of records) {
      try {
        const history = readHistory(this.dataDir, record.name, (message) => this.logger.warn(message));
        const { stateName } = restartPoint(this.compiled.definition, history, record.input);
        if (!select({ executionArn: record.executionArn, name: record.name, stateName })) continue;
        await this.redriveExecution(record.executionArn);
        redriven.push(record.executionArn);
      } catch (error) {
        this.logger.warn('an execution the runtime stopped was not redriven', {
          executionArn: record.executionArn,
          error: String(error),
        });
      }
    }
    return redriven;
  }

  private compiledFrom(stateName: string): CompiledDefinition {
    if (stateName === this.compiled.definition.StartAt) return this.compiled;
    let compiled = this.redriveMachines.get(stateName);
    if (!compiled) {
      compiled = compileDefinition({ ...this.compiled.definition, StartAt: stateName }, this.taskHandlers, {
        validated: true,
      });
      this.redriveMachines.set(stateName, compiled);
    }
    return compiled;
  }

  private newRunningExecution(name: string, inputText: string, startDate: Date): RunningExecution {
    return {
      name,
      executionArn: this.executionArnOf(name),
      input: inputText,
      startDate,
      placeholder: newTokenPlaceholder(),
      lastEventId: 0,
      closing: false,
      abort: () => {},
      pending: new Set(),
      stateInputs: new Map(),
      eventsDrained: Promise.resolve(),
      done: defer<ExecutionDescription>(),
      redriveCount: 0,
    };
  }

  /** Runs `compiled` (the definition, or it from a redrive's state) on `input` for `execution`. */
  private launch(execution: RunningExecution, compiled: CompiledDefinition, input: JsonValue): void {
    const run = compiled.machine.run(input, {
      overrides: {
        taskResourceLocalHandlers: Object.fromEntries(
          [...compiled.taskSpecs.values()].map((spec) => [
            spec.stateName,
            (taskInput: JsonValue) => this.tasks.run(execution, spec, taskInput),
          ]),
        ),
        ...libraryTimeOverrides(compiled, this.overrides),
      },
      context: {
        Execution: {
          Id: execution.executionArn,
          Name: execution.name,
          StartTime: execution.startDate.toISOString(),
          Input: JSON.parse(execution.input) as JsonValue,
          RoleArn: this.roleArn,
          RedriveCount: execution.redriveCount,
          ...(execution.redriveDate ? { RedriveTime: execution.redriveDate.toISOString() } : {}),
        },
        StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineName },
        Task: { Token: execution.placeholder },
      },
    });
    execution.abort = run.abort;
    execution.eventsDrained = (async () => {
      try {
        for await (const event of run.eventLogs)
          this.history.libraryEvent(execution, event, (closing, message) =>
            this.failOnDataLimit(closing, message),
          );
      } catch (error) {
        this.logger.error('reading the execution events failed', {
          executionArn: execution.executionArn,
          error: String(error),
        });
      }
    })();
    void this.settle(execution, run.result);
  }

  /** `DescribeExecution`: any execution in the store, including earlier lives and other processes. */
  describeExecution(executionArn: string): ExecutionDescription {
    const name = this.executionNameOf(executionArn);
    const record = readStoredExecution(this.dataDir, name);
    if (!record) throw new ExecutionDoesNotExistError(`Execution Does Not Exist: '${executionArn}'`);
    return this.describeRecord(record);
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
      executions: page.map(listItemOf),
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
    assertWithinPayloadLimit('output', output);
    const task = this.tokens.taskOf(taskToken);
    const value = parseTaskOutput(output);
    this.tasks.succeed(task, value, output);
  }

  /** `SendTaskFailure`: the task fails with `error` as the error name Retry/Catch match, `cause` as message. */
  sendTaskFailure(taskToken: string, error?: string, cause?: string): void {
    validateTaskFailure(error, cause);
    const task = this.tokens.taskOf(taskToken);
    const name = error ?? 'States.TaskFailed';
    this.tasks.fail(
      task,
      timeoutErrorNames.has(name) ? timeoutError(name, cause ?? '') : namedError(name, cause ?? ''),
      'failed',
    );
  }

  /** `SendTaskHeartbeat`: restarts the task's `HeartbeatSeconds` clock. */
  sendTaskHeartbeat(taskToken: string): void {
    this.tasks.heartbeat(this.tokens.taskOf(taskToken));
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
    engineStopped(this.engineId);
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
      ...(execution.redriveCount === 0 ? {} : { redriveCount: execution.redriveCount }),
      ...(execution.redriveDate === undefined ? {} : { redriveDate: execution.redriveDate.toISOString() }),
      ...(execution.redriveClientTokens === undefined
        ? {}
        : { redriveClientTokens: execution.redriveClientTokens }),
    };
  }

  /** A record as `DescribeExecution` answers it, with whether it can be redriven now. */
  private describeRecord(record: StoredExecution): ExecutionDescription {
    const needsHistory = record.status !== 'RUNNING' && record.status !== 'SUCCEEDED';
    let events = 0;
    try {
      if (needsHistory) events = readHistory(this.dataDir, record.name, () => {}).length;
    } catch {
      // An unreadable history (a broken disk) leaves redriveExecution to report it; describing goes on.
    }
    const reason = notRedrivableReason(record, events, this.historyLimit, new Date());
    return {
      ...listItemOf(record),
      input: record.input,
      ...(record.output === undefined ? {} : { output: record.output }),
      ...(record.error === undefined ? {} : { error: record.error }),
      ...(record.cause === undefined ? {} : { cause: record.cause }),
      redriveStatus: reason === undefined ? 'REDRIVABLE' : 'NOT_REDRIVABLE',
      ...(reason === undefined ? {} : { redriveStatusReason: reason }),
    };
  }

  /** A state's data passed the limit: nothing more runs, and the execution fails with it. */
  private failOnDataLimit(execution: RunningExecution, message: string): void {
    if (execution.dataLimitExceeded !== undefined) return;
    execution.dataLimitExceeded = message;
    this.beginClosing(execution);
    execution.abort();
  }

  /** The history reached its cap (its ExecutionFailed is written): nothing more runs. */
  private failOnHistoryLimit(execution: RunningExecution): void {
    this.beginClosing(execution);
    execution.abort();
  }

  private beginClosing(execution: RunningExecution, stop?: StopRequest): void {
    if (stop && !execution.closing) execution.stopRequest = stop;
    execution.closing = true;
    for (const task of [...execution.pending])
      this.tasks.fail(task, executionClosedError(execution.name), 'closing');
    if (stop) execution.abort();
  }

  private async settle(execution: RunningExecution, result: Promise<JsonValue>): Promise<void> {
    let final: ExecutionFinal;
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
      this.history.executionEnded(execution, final);
      // The cap's ExecutionFailed is the history's last event (it may be the one just recorded).
      if (execution.historyLimitReached)
        final = { status: 'FAILED', ...historyLimitFailure(this.historyLimit) };
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
        this.describeRecord(this.recordOf(execution, { ...final, stopDate: stopDate ?? new Date() })),
      );
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
}
