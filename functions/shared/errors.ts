import { fitJsonString, maxErrorMessageJsonBytes } from './payload-budget.ts';

/**
 * Errors that cross the state machine boundary. Each has a literal `name`, because that name is
 * what `Retry`/`Catch` match with `ErrorEquals`, and literal names survive bundling.
 * The state-machine test checks that every `ErrorEquals` name in the ASL is one of these.
 */
export class PipelineError extends Error {
  override name = 'PipelineError';

  /** The message is cut to its payload budget: the state machine carries it as a failure's cause. */
  constructor(message?: string, options?: ErrorOptions) {
    super(message === undefined ? message : fitJsonString(message, maxErrorMessageJsonBytes), options);
  }
}

/** The build commands exited non-zero. */
export class BuildFailedError extends PipelineError {
  override name = 'BuildFailedError';
}

/** The test commands exited non-zero or a JUnit report holds failures. */
export class TestsFailedError extends PipelineError {
  override name = 'TestsFailedError';
}

/** A stage ran past its `timeout`. */
export class StageTimeoutError extends PipelineError {
  override name = 'StageTimeoutError';
}

/** The pushed repository has no valid `stepline.yml`. */
export class PipelineConfigError extends PipelineError {
  override name = 'PipelineConfigError';
}

/** The commit's source could not be fetched. */
export class SourceFetchError extends PipelineError {
  override name = 'SourceFetchError';
}

/** A task received input that does not match its schema. */
export class TaskInputError extends PipelineError {
  override name = 'TaskInputError';
}

/** A pipeline step that a later release fills; it fails so no run reports success past it. */
export class NotImplementedError extends PipelineError {
  override name = 'NotImplementedError';
}

/** A commit status could not be published to the git provider. */
export class StatusReportError extends PipelineError {
  override name = 'StatusReportError';
}

/** PublishImage could not build or push the image: unknown base, registry unreachable or refusing, no artifacts, Dockerfile error. */
export class ImagePublishFailedError extends PipelineError {
  override name = 'ImagePublishFailedError';
}

/** The ECS rollout failed (or the circuit breaker rolled it back); the cause quotes the service events. */
export class DeploymentFailedError extends PipelineError {
  override name = 'DeploymentFailedError';
}

/** The ECS rollout did not complete by its deadline; the previous revision was put back. */
export class DeploymentTimedOutError extends PipelineError {
  override name = 'DeploymentTimedOutError';
}

/** Another execution is rolling out to the same service; the state machine retries later. */
export class DeploymentInProgressError extends PipelineError {
  override name = 'DeploymentInProgressError';
}

/** An approver rejected the production rollout. */
export class ApprovalRejectedError extends PipelineError {
  override name = 'ApprovalRejectedError';
}

/** RequestApproval could not ask for a decision: no approvers configured, or the email was refused. */
export class ApprovalRequestError extends PipelineError {
  override name = 'ApprovalRequestError';
}

/**
 * A runner task (Build, Test, PublishImage) stopped without reporting its result: killed (out of
 * memory, a signal), crashed, or never started (image pull, capacity). The cause says which.
 */
export class RunnerExitedError extends PipelineError {
  override name = 'RunnerExitedError';
}

/**
 * An execution-mode lane changed under every attempt to update it (many executions of one branch
 * at once). The lane states retry it.
 */
export class LaneContentionError extends PipelineError {
  override name = 'LaneContentionError';
}

/** Names of every error class above, for tests that check the ASL's `ErrorEquals`. */
export const pipelineErrorNames = [
  'PipelineError',
  'BuildFailedError',
  'TestsFailedError',
  'StageTimeoutError',
  'PipelineConfigError',
  'SourceFetchError',
  'TaskInputError',
  'NotImplementedError',
  'StatusReportError',
  'ImagePublishFailedError',
  'DeploymentFailedError',
  'DeploymentTimedOutError',
  'DeploymentInProgressError',
  'ApprovalRejectedError',
  'ApprovalRequestError',
  'RunnerExitedError',
  'LaneContentionError',
] as const;

/**
 * Errors that AWS raises at the integration, as the state machine sees them. The local runtime
 * throws the same names where the same condition happens (e.g. a handler over its concurrency).
 */
export class LambdaServiceError extends Error {
  override name = 'Lambda.ServiceException';
}
export class LambdaAwsError extends Error {
  override name = 'Lambda.AWSLambdaException';
}
export class LambdaSdkClientError extends Error {
  override name = 'Lambda.SdkClientException';
}
export class LambdaTooManyRequestsError extends Error {
  override name = 'Lambda.TooManyRequestsException';
}
export class EcsServiceError extends Error {
  override name = 'ECS.AmazonECSException';
}

export const integrationErrorNames = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'ECS.AmazonECSException',
] as const;
