import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { LambdaCompute } from '#shared/compute.ts';
import { LambdaTooManyRequestsError } from '#shared/errors.ts';
import type { FromWorker, LambdaErrorPayload, ToWorker, WorkerSetup } from './protocol.ts';

/** Concurrent invocations one local function accepts by default, like a reserved concurrency on AWS. */
export const defaultReservedConcurrency = 10;

export interface LocalFunctionOptions {
  /** The catalogued settings (functions/shared/compute.ts): memory and timeout are enforced from them. */
  compute: LambdaCompute;
  /** The function's bundle, built as the stack builds it (local/lambda/bundles.ts). */
  bundle: string;
  /** local/lambda/bootstrap.ts as built by `bundleBootstrap`. */
  bootstrap: string;
  /**
   * The function's environment (the stack's variables with local endpoints), read at each cold
   * start: some endpoints are known only once the runtime has started.
   */
  env: () => Record<string, string>;
  functionArn: string;
  /** @default defaultReservedConcurrency */
  reservedConcurrency?: number;
}

/**
 * A failed invocation as Step Functions sees it: `name` is the error Retry/Catch match (the
 * runtime's `errorType`), `message` the cause, which is the error payload as JSON, as on AWS.
 */
export class LambdaInvocationError extends Error {
  readonly payload: LambdaErrorPayload | RuntimeError;

  constructor(payload: LambdaErrorPayload | RuntimeError) {
    // Lambda's own order of the fields.
    super(
      JSON.stringify({
        errorMessage: payload.errorMessage,
        errorType: payload.errorType,
        ...('trace' in payload ? { trace: payload.trace } : {}),
      }),
    );
    this.name = payload.errorType;
    this.payload = payload;
  }
}

/** An error of the runtime itself (no stack trace: the function did not throw it). */
type RuntimeError = Omit<LambdaErrorPayload, 'trace'>;
type Exited = { type: 'exit'; error: RuntimeError };

/** One warm "container": a worker thread that has loaded the bundle, running one invocation at a time. */
class Container {
  readonly worker: Worker;
  /** Resolves once init (the bundle's module scope) ran; rejects with its error. */
  readonly ready: Promise<void>;
  dead = false;
  private waiting: ((message: FromWorker | Exited) => void) | undefined;

  constructor(setup: WorkerSetup, options: LocalFunctionOptions) {
    this.worker = new Worker(options.bootstrap, {
      workerData: setup,
      // A copy: the function sees only its own variables, and what it sets stays its own.
      env: options.env(),
      // The nearest a thread comes to Lambda's memory setting: its V8 heap cannot outgrow it.
      resourceLimits: { maxOldGenerationSizeMb: options.compute.memorySize },
      name: setup.functionName,
      // Plain JavaScript: none of this process's loaders (tsx), which would slow every cold start.
      execArgv: [],
    });
    let readyResolve!: () => void;
    let readyReject!: (error: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      readyResolve = resolve;
      readyReject = reject;
    });
    // Awaited only when an invocation comes; never an unhandled rejection.
    this.ready.catch(() => {});
    this.worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') readyResolve();
      else if (message.type === 'init-error') {
        this.dead = true;
        readyReject(new LambdaInvocationError(message.error));
      } else this.deliver(message);
    });
    const exited = (error: RuntimeError) => {
      const wasDead = this.dead;
      this.dead = true;
      readyReject(new LambdaInvocationError(error));
      if (!wasDead || this.waiting) this.deliver({ type: 'exit', error });
    };
    this.worker.on('error', (error: Error & { code?: string }) =>
      exited(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? {
              errorType: 'Runtime.OutOfMemory',
              errorMessage: `Runtime exited with error: the function used more than its ${options.compute.memorySize} MB`,
            }
          : {
              errorType: 'Runtime.ExitError',
              errorMessage: `Runtime exited with error: ${error.name}: ${error.message}`,
            },
      ),
    );
    this.worker.on('exit', (code) =>
      exited({
        errorType: 'Runtime.ExitError',
        errorMessage: `Runtime exited with error: exit status ${code}`,
      }),
    );
  }

  /** Runs one invocation; the next message from the worker (or its end) is its outcome. */
  run(message: ToWorker): Promise<FromWorker | Exited> {
    if (this.dead) {
      const error = { errorType: 'Runtime.ExitError', errorMessage: 'Runtime exited before the invocation' };
      return Promise.resolve({ type: 'exit', error });
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.worker.postMessage(message);
    });
  }

  private deliver(message: FromWorker | Exited): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(message);
  }

  async stop(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

/**
 * The Lambda stand-in for one function: runs its `handler` export from the bundle the stack ships,
 * in worker threads with the function's own environment, memory and timeout. A worker stays warm
 * and is reused, as a Lambda container is; one that timed out, ran out of memory or failed its
 * init is dropped and the next invocation starts a new one (a cold start). Past its reserved
 * concurrency an invocation fails with `Lambda.TooManyRequestsException`, which the ASL retries.
 */
export class LocalLambdaFunction {
  readonly compute: LambdaCompute;
  readonly functionName: string;
  private readonly options: LocalFunctionOptions;
  private readonly idle: Container[] = [];
  private readonly all = new Set<Container>();
  private inFlight = 0;
  private nextId = 1;
  private closed = false;

  constructor(options: LocalFunctionOptions) {
    this.options = options;
    this.compute = options.compute;
    this.functionName = `stepline-${options.compute.folder}`;
  }

  /** Invokes the function with `event` (passed through JSON, as Lambda does); returns its result. */
  async invoke(event: unknown): Promise<unknown> {
    if (this.closed) throw new Error(`function ${this.functionName} is closed`);
    const limit = this.options.reservedConcurrency ?? defaultReservedConcurrency;
    if (this.inFlight >= limit) {
      throw new LambdaTooManyRequestsError(
        `Rate Exceeded. function ${this.functionName} is at its concurrency limit (${limit})`,
      );
    }
    this.inFlight++;
    try {
      return await this.run(JSON.stringify(event ?? null));
    } finally {
      this.inFlight--;
    }
  }

  private async run(event: string): Promise<unknown> {
    let container = this.idle.pop();
    // A warm worker can end between invocations (an error thrown after its handler returned).
    while (container?.dead) {
      this.drop(container);
      container = this.idle.pop();
    }
    container ??= this.start();
    container.worker.ref();
    const requestId = randomUUID();
    const timeoutMs = this.compute.timeoutSeconds * 1000;
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const outcome = await Promise.race([
        container.ready.then(() =>
          container.run({ type: 'invoke', id: this.nextId++, requestId, event, deadline }),
        ),
        timedOut,
      ]);
      if (outcome === 'timeout') {
        // Lambda stops the sandbox: whatever the handler still runs ends with it.
        this.drop(container);
        throw new LambdaInvocationError({
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${requestId} Error: Task timed out after ${this.compute.timeoutSeconds.toFixed(2)} seconds`,
        });
      }
      if (outcome.type === 'result') return JSON.parse(outcome.payload) as unknown;
      if (outcome.type === 'error') throw new LambdaInvocationError(outcome.error);
      if (outcome.type === 'exit') {
        throw new LambdaInvocationError({
          ...outcome.error,
          errorMessage: `RequestId: ${requestId} Error: ${outcome.error.errorMessage}`,
        });
      }
      throw new Error(`unexpected message from the ${this.functionName} worker: ${outcome.type}`);
    } catch (error) {
      if (container.dead) this.drop(container);
      throw error;
    } finally {
      clearTimeout(timer);
      if (!container.dead && !this.closed) {
        container.worker.unref();
        this.idle.push(container);
      }
    }
  }

  private start(): Container {
    const container = new Container(
      {
        bundle: this.options.bundle,
        handler: this.compute.handler,
        functionName: this.functionName,
        functionArn: this.options.functionArn,
        memorySize: this.compute.memorySize,
        workerId: randomUUID().replaceAll('-', ''),
      },
      this.options,
    );
    this.all.add(container);
    return container;
  }

  private drop(container: Container): void {
    this.all.delete(container);
    const at = this.idle.indexOf(container);
    if (at >= 0) this.idle.splice(at, 1);
    void container.stop();
  }

  /**
   * Starts one worker now, if none is warm, so the next invocation finds its init done (like a
   * provisioned concurrency of one); resolves when its init has run. An init that fails is
   * reported by the next invocation, as on AWS.
   */
  async prewarm(): Promise<void> {
    if (this.closed || this.idle.length > 0) return;
    const container = this.start();
    container.worker.unref();
    this.idle.push(container);
    await container.ready.catch(() => {});
  }

  /** Warm workers right now (for tests and the console). */
  get warm(): number {
    return this.idle.length;
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    const containers = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(containers.map((c) => c.stop()));
  }
}
