import type { HistoryEventType } from '@aws-sdk/client-sfn';
import type { LocalHistoryEvent } from './store.ts';

/** What a history event carries besides its id, previous id and timestamp. */
export type HistoryEventBody = Omit<LocalHistoryEvent, 'id' | 'previousEventId' | 'timestamp'>;

const stateTypes = ['Task', 'Parallel', 'Map', 'Pass', 'Wait', 'Choice', 'Succeed', 'Fail'] as const;
type StateType = (typeof stateTypes)[number];

/** `TaskStateEntered`, `ChoiceStateExited`, …: the history event type for a state of `stateType`. */
export function stateEventType(stateType: string, phase: 'Entered' | 'Exited'): HistoryEventType | undefined {
  if (!(stateTypes as readonly string[]).includes(stateType)) return undefined;
  if (stateType === 'Fail' && phase === 'Exited') return undefined;
  return `${stateType as StateType}State${phase}` as HistoryEventType;
}

/** How a Task state's `Resource` shows up in history events. */
export type ResourceKind =
  | { kind: 'lambda'; resource: string }
  | { kind: 'service'; resourceType: string; resource: string };

/**
 * A plain Lambda function ARN is recorded with `LambdaFunction*` events, as AWS does; an
 * `arn:aws:states:::<service>:<api>[.<pattern>]` integration with `Task*` events.
 */
export function resourceKind(resourceArn: string): ResourceKind {
  const integration = /^arn:[^:]+:states:[^:]*:[^:]*:([^:]+):(.+)$/.exec(resourceArn);
  if (integration) return { kind: 'service', resourceType: integration[1]!, resource: integration[2]! };
  if (/^arn:[^:]+:lambda:/.test(resourceArn)) return { kind: 'lambda', resource: resourceArn };
  return { kind: 'service', resourceType: 'local', resource: resourceArn };
}

/** Removes the execution data (inputs, outputs, task parameters) from an event, for `includeExecutionData: false`. */
export function withoutExecutionData(event: LocalHistoryEvent): LocalHistoryEvent {
  const copy: Record<string, unknown> = { ...event };
  for (const [key, value] of Object.entries(copy)) {
    if (!key.endsWith('EventDetails') || value === null || typeof value !== 'object') continue;
    const {
      input: _input,
      output: _output,
      parameters: _parameters,
      ...rest
    } = value as Record<string, unknown>;
    copy[key] = rest;
  }
  return copy as LocalHistoryEvent;
}
