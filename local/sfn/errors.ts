/**
 * Errors of the local Step Functions API. Each `name` is the error code AWS returns (the JSON
 * protocol's `__type`), so the api-server can reply with it and the SDK raises the same typed
 * exception (`ExecutionAlreadyExists`, `TaskTimedOut`, …) as against AWS.
 */
export class SfnApiError extends Error {
  override name: string = 'SfnApiError';
}

export class ExecutionAlreadyExistsError extends SfnApiError {
  override name = 'ExecutionAlreadyExists' as const;
}
export class ExecutionDoesNotExistError extends SfnApiError {
  override name = 'ExecutionDoesNotExist' as const;
}
export class StateMachineDoesNotExistError extends SfnApiError {
  override name = 'StateMachineDoesNotExist' as const;
}
export class InvalidArnError extends SfnApiError {
  override name = 'InvalidArn' as const;
}
export class InvalidNameError extends SfnApiError {
  override name = 'InvalidName' as const;
}
export class InvalidExecutionInputError extends SfnApiError {
  override name = 'InvalidExecutionInput' as const;
}
export class InvalidOutputError extends SfnApiError {
  override name = 'InvalidOutput' as const;
}
/** A malformed task token, or a malformed pagination token. */
export class InvalidTokenError extends SfnApiError {
  override name = 'InvalidToken' as const;
}
/** A well-formed task token that this runtime never issued (or issued in an earlier life). */
export class TaskDoesNotExistError extends SfnApiError {
  override name = 'TaskDoesNotExist' as const;
}
/** A task token whose task has already closed (succeeded, failed, timed out or stopped). */
export class TaskTimedOutError extends SfnApiError {
  override name = 'TaskTimedOut' as const;
}
export class ValidationError extends SfnApiError {
  override name = 'ValidationException' as const;
}
/** `RedriveExecution` of an execution that cannot be redriven (RUNNING, SUCCEEDED, too old, …). */
export class ExecutionNotRedrivableError extends SfnApiError {
  override name = 'ExecutionNotRedrivable' as const;
}
