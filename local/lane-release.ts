import { executionsInLanes } from '#functions/lane/file-store.ts';
import type { EngineLogger, LocalStepFunctions } from '#local/sfn/engine.ts';

/** History events that end an execution, and the status EventBridge reports for each. */
const endStatuses: Readonly<Record<string, string>> = {
  ExecutionSucceeded: 'SUCCEEDED',
  ExecutionFailed: 'FAILED',
  ExecutionTimedOut: 'TIMED_OUT',
  ExecutionAborted: 'ABORTED',
};

/** The "Step Functions Execution Status Change" event EventBridge sends the lane Lambda on AWS. */
function statusChange(engine: LocalStepFunctions, executionArn: string, status: string, time: Date) {
  return {
    version: '0',
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    // As EventBridge's: when the status changed, to the second.
    time: `${time.toISOString().slice(0, 19)}Z`,
    resources: [executionArn],
    detail: { executionArn, stateMachineArn: engine.stateMachineArn, status },
  };
}

/**
 * The local counterpart of the stack's release rule (infra/lanes.ts): every execution that ends
 * sends the lane function the event EventBridge would, so one that ended without its `LeaveLane`
 * state (stopped, timed out, failed past its catchers) leaves its lane and wakes the next queued run.
 * At start, executions still in a lane that are no longer running (the runtime stopped while they
 * ran, and recovery ended them) are released the same way. Returns the unsubscribe.
 */
export function releaseLanesOnExecutionEnd(
  engine: LocalStepFunctions,
  invokeLane: (event: unknown) => Promise<unknown>,
  logger: EngineLogger,
): () => void {
  const release = (executionArn: string, status: string, time: Date) => {
    invokeLane(statusChange(engine, executionArn, status, time)).catch((error: unknown) =>
      logger.warn('the lane of an ended execution could not be released', {
        executionArn,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      }),
    );
  };
  const listener = (executionArn: string, event: { type: string; timestamp?: Date }) => {
    const status = endStatuses[event.type];
    if (status) release(executionArn, status, event.timestamp ?? new Date());
  };
  engine.on('event', listener);
  for (const executionArn of executionsInLanes(engine.dataDir)) {
    let status: string;
    let stopped = new Date();
    try {
      const description = engine.describeExecution(executionArn);
      status = description.status;
      stopped = description.stopDate ?? stopped;
    } catch {
      status = 'ABORTED';
    }
    if (status !== 'RUNNING') release(executionArn, status, stopped);
  }
  return () => engine.off('event', listener);
}
