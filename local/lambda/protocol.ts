/** What a local Lambda worker (local/lambda/bootstrap.ts) is started with. */
export interface WorkerSetup {
  /** Absolute path of the function's bundle (`index.mjs`). */
  bundle: string;
  /** The export to call. */
  handler: string;
  functionName: string;
  functionArn: string;
  /** MB, as the context's `memoryLimitInMB` says. */
  memorySize: number;
  /** Tells this worker's log stream from the others'. */
  workerId: string;
}

/** An error as the Lambda runtime reports it: the invocation's payload and, to Step Functions, the cause. */
export interface LambdaErrorPayload {
  errorType: string;
  errorMessage: string;
  trace: string[];
}

export type ToWorker = {
  type: 'invoke';
  id: number;
  requestId: string;
  /** The event as JSON, as Lambda receives it. */
  event: string;
  /** `Date.now()` at which the invocation times out (the context's remaining time). */
  deadline: number;
};

export type FromWorker =
  | { type: 'ready' }
  | { type: 'init-error'; error: LambdaErrorPayload }
  | { type: 'result'; id: number; payload: string }
  | { type: 'error'; id: number; error: LambdaErrorPayload };
