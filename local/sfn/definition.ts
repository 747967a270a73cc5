import '#local/polyfills.ts';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import type { LocalStepFunctionsOverrides, TaskHandler } from './api-types.ts';
import { forLibraryErrorEquals } from './states-errors.ts';

/**
 * Reads an ASL definition for the engine: each Task state's handler and timeouts, the Wait and
 * Retry states the overrides apply to, and the copy of the definition aws-local-stepfunctions runs.
 */

/** Longest delay `setTimeout` honours (about 24.8 days); longer ones would fire at once. */
export const maxTimerSeconds = 2_147_483;

/** A Task state as the engine runs it. */
export type TaskSpec = {
  stateName: string;
  resource: string;
  handler: TaskHandler;
  timeoutSeconds?: number;
  /** `TimeoutSecondsPath`, read from the state's input when the task starts. */
  timeoutSecondsPath?: string;
  heartbeatSeconds?: number;
};

export interface CompiledDefinition {
  /** The parsed definition, as given. */
  readonly definition: Record<string, unknown>;
  /** The machine aws-local-stepfunctions runs (task timeouts and `ErrorEquals` adapted, see below). */
  readonly machine: StateMachine;
  readonly taskSpecs: Map<string, TaskSpec>;
  readonly waitStates: string[];
  readonly retryStates: string[];
}

export function collectStates(
  states: Record<string, unknown>,
  visit: (name: string, state: Record<string, unknown>) => void,
): void {
  for (const [name, state] of Object.entries(states)) {
    if (state === null || typeof state !== 'object') continue;
    const s = state as Record<string, unknown>;
    visit(name, s);
    const nested = [...(Array.isArray(s.Branches) ? s.Branches : []), s.Iterator, s.ItemProcessor] as Array<
      { States?: Record<string, unknown> } | undefined
    >;
    for (const machine of nested) if (machine?.States) collectStates(machine.States, visit);
  }
}

/** Parses the definition (JSON text); it must be an object with `States`. */
export function parseDefinition(definitionText: string): Record<string, unknown> {
  let definition: Record<string, unknown>;
  try {
    definition = JSON.parse(definitionText) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`state machine definition is not valid JSON: ${(error as Error).message}`);
  }
  if (definition === null || typeof definition !== 'object' || typeof definition.States !== 'object')
    throw new Error('state machine definition has no "States" object');
  return definition;
}

/**
 * Compiles a parsed definition for the library, with a handler for every Task state's resource.
 * `validated: true` skips the library's validation, for a definition derived from one that passed it
 * (a redrive's, whose states before its `StartAt` are unreachable).
 */
export function compileDefinition(
  definition: Record<string, unknown>,
  tasks: Record<string, TaskHandler>,
  options: { validated?: boolean } = {},
): CompiledDefinition {
  const taskSpecs = new Map<string, TaskSpec>();
  const waitStates: string[] = [];
  const retryStates: string[] = [];
  // The library gets a copy: this engine enforces Task timeouts itself (AWS semantics: no
  // TimeoutSeconds means no task timeout, where the library would default to 60 s).
  const forLibrary = structuredClone(definition);
  const missing: string[] = [];
  collectStates(definition.States as Record<string, unknown>, (name, state) => {
    if (state.Type === 'Wait') waitStates.push(name);
    if (Array.isArray(state.Retry)) retryStates.push(name);
    if (state.Type !== 'Task') return;
    const resource = String(state.Resource);
    const handler = tasks[resource];
    if (!handler) {
      missing.push(`state "${name}" uses resource "${resource}"`);
      return;
    }
    taskSpecs.set(name, {
      stateName: name,
      resource,
      handler,
      ...(typeof state.TimeoutSeconds === 'number' ? { timeoutSeconds: state.TimeoutSeconds } : {}),
      ...(typeof state.TimeoutSecondsPath === 'string'
        ? { timeoutSecondsPath: state.TimeoutSecondsPath }
        : {}),
      ...(typeof state.HeartbeatSeconds === 'number' ? { heartbeatSeconds: state.HeartbeatSeconds } : {}),
    });
  });
  if (missing.length > 0) throw new Error(`no task handler for: ${missing.join('; ')}`);
  collectStates(forLibrary.States as Record<string, unknown>, (_name, state) => {
    forLibraryErrorEquals(state);
    if (state.Type !== 'Task') return;
    // The library would read TimeoutSecondsPath from the input after `Parameters`; AWS reads it
    // from the state's input. The engine reads it (see runTask) and enforces it.
    delete state.TimeoutSecondsPath;
    state.TimeoutSeconds = maxTimerSeconds;
  });
  if (typeof forLibrary.TimeoutSeconds === 'number' && forLibrary.TimeoutSeconds > maxTimerSeconds)
    forLibrary.TimeoutSeconds = maxTimerSeconds;
  // Local resources carry region "local", which the ARN check would refuse.
  const machine = new StateMachine(forLibrary as unknown as StateMachineDefinition, {
    validationOptions: options.validated ? { noValidate: true } : { checkArn: false },
  });
  return { definition, machine, taskSpecs, waitStates, retryStates };
}

/** The library's `waitTimeOverrides` and `retryIntervalOverrides` for the engine's overrides. */
export function libraryTimeOverrides(compiled: CompiledDefinition, overrides: LocalStepFunctionsOverrides) {
  return {
    ...(overrides.waitTimeOverrides === undefined
      ? {}
      : {
          waitTimeOverrides: Object.fromEntries(
            compiled.waitStates.map((state) => [state, overrides.waitTimeOverrides as number]),
          ),
        }),
    ...perState('retryIntervalOverrides', overrides.retryIntervalOverrides, compiled.retryStates),
  };
}

function perState<K extends string, T>(
  key: K,
  value: number | Record<string, T> | undefined,
  states: string[],
) {
  if (value === undefined) return {};
  const perState =
    typeof value === 'number' ? Object.fromEntries(states.map((state) => [state, value])) : value;
  return { [key]: perState } as { [P in K]: Record<string, T | number> };
}
