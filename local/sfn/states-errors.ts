import '#local/polyfills.ts';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';

/**
 * The errors states raise (`States.Runtime`, `States.Timeout`, `States.HeartbeatTimeout`, a task's
 * own named errors) and how `Retry`/`Catch` must match them, as on AWS. API errors (the JSON
 * protocol's `__type`) are in `errors.ts`.
 */

export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return namedError(
    'Error',
    typeof thrown === 'string' ? thrown : (JSON.stringify(thrown) ?? String(thrown)),
  );
}

/** Errors that aws-local-stepfunctions must neither retry nor catch: the execution is closing. */
export function executionClosedError(executionName: string): Error {
  return Object.assign(new Error(`execution ${executionName} is closing; no further task runs`), {
    name: 'Stepline.ExecutionClosed',
    isRetryable: false,
    isCatchable: false,
  });
}

/**
 * `States.Runtime`, as AWS raises it (a path that leads nowhere valid, a result that is not JSON):
 * like `States.DataLimitExceeded`, neither `Retry` nor `Catch` (not even `States.ALL`) matches it.
 */
export function runtimeError(message: string): Error {
  return Object.assign(namedError('States.Runtime', message), { isRetryable: false, isCatchable: false });
}

/**
 * aws-local-stepfunctions lets `States.TaskFailed` match every error of a Task except instances of
 * its own `StatesTimeoutError`, a class it does not export. The engine takes the class's prototype
 * from one run of a throwaway machine whose task times out after a millisecond, and gives it to the
 * timeouts it raises itself, so `States.TaskFailed` skips them as on AWS.
 */
let libraryTimeoutPrototype: object | undefined;
export const libraryTimeoutPrototypeReady: Promise<object> = (async () => {
  const probe = new StateMachine(
    {
      StartAt: 'Probe',
      States: {
        Probe: {
          Type: 'Task',
          Resource: 'arn:aws:lambda:local:0:function:probe',
          TimeoutSeconds: 0.001,
          End: true,
        },
      },
    } as unknown as StateMachineDefinition,
    { validationOptions: { noValidate: true } },
  );
  const run = probe.run(
    {},
    { overrides: { taskResourceLocalHandlers: { Probe: () => new Promise(() => {}) } } },
  );
  try {
    await run.result;
  } catch (thrown) {
    const cause = thrown instanceof ExecutionError ? thrown.cause : undefined;
    if (cause instanceof Error && cause.name === 'States.Timeout') {
      libraryTimeoutPrototype = Object.getPrototypeOf(cause) as object;
      return libraryTimeoutPrototype;
    }
  }
  // Neither Retry nor Catch may hide it: every task of every execution fails with it.
  throw Object.assign(
    namedError(
      'Stepline.EngineBroken',
      'aws-local-stepfunctions no longer raises its StatesTimeoutError for a task timeout; the engine cannot tell timeouts from other task failures',
    ),
    { isRetryable: false, isCatchable: false },
  );
})();
// Awaited where it is needed (runTask); an unhandled rejection here would end the process.
libraryTimeoutPrototypeReady.catch(() => {});

/** Errors that only `States.Timeout` (and their own name) match, as on AWS. */
export const timeoutErrorNames = new Set(['States.Timeout', 'States.HeartbeatTimeout']);

/**
 * A task's timeout error (`States.Timeout` for `TimeoutSeconds`, `States.HeartbeatTimeout` for
 * `HeartbeatSeconds`): `States.TaskFailed` does not match it; `States.Timeout` matches both (see
 * {@link forLibraryErrorEquals}).
 */
export function timeoutError(name: string, message: string): Error {
  const error = namedError(name, message);
  if (libraryTimeoutPrototype) Object.setPrototypeOf(error, libraryTimeoutPrototype);
  return error;
}

/**
 * `ErrorEquals` as the library must see it: `States.Timeout` also lists `States.HeartbeatTimeout`,
 * which AWS matches as a kind of timeout.
 */
export function forLibraryErrorEquals(state: Record<string, unknown>): void {
  for (const key of ['Retry', 'Catch'] as const) {
    const rules = state[key];
    if (!Array.isArray(rules)) continue;
    for (const rule of rules as Array<{ ErrorEquals?: unknown }>) {
      const names = rule.ErrorEquals;
      if (
        Array.isArray(names) &&
        names.includes('States.Timeout') &&
        !names.includes('States.HeartbeatTimeout')
      )
        rule.ErrorEquals = [...names, 'States.HeartbeatTimeout'];
    }
  }
}
