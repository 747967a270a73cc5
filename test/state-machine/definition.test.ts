import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { localSubstitutions } from '#local/substitutions.ts';
import * as errors from '#shared/errors.ts';
import {
  placeholders,
  placeholdersIn,
  readDefinition,
  render,
  type Substitutions,
} from '#state-machines/pipeline.ts';

type AslValidator = (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

type State = Record<string, unknown> & {
  Type: string;
  Retry?: { ErrorEquals: string[] }[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
};
const definition = JSON.parse(render(localSubstitutions)) as {
  StartAt: string;
  States: Record<string, State>;
};

function walk(value: unknown, visit: (key: string, value: unknown) => void): void {
  if (Array.isArray(value)) for (const item of value) walk(item, visit);
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      visit(key, child);
      walk(child, visit);
    }
  }
}

describe('pipeline.asl.json', () => {
  it('passes asl-validator once rendered', () => {
    const result = aslValidator(definition);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('uses JSONPath only: no JSONata query language and no Assign', () => {
    const keys: string[] = [];
    walk(definition, (key, value) => {
      if (key === 'Assign' || (key === 'QueryLanguage' && value !== 'JSONPath'))
        keys.push(`${key}=${JSON.stringify(value)}`);
    });
    expect(keys).toEqual([]);
  });

  it('matches only exported error classes or States.* in every ErrorEquals', () => {
    const known = new Set<string>();
    for (const value of Object.values(errors)) {
      if (typeof value === 'function' && value.prototype instanceof Error) {
        known.add(new (value as new (m: string) => Error)('probe').name);
      }
    }
    const unknown: string[] = [];
    walk(definition, (key, value) => {
      if (key !== 'ErrorEquals') return;
      for (const name of value as string[])
        if (!name.startsWith('States.') && !known.has(name)) unknown.push(name);
    });
    expect(unknown).toEqual([]);
  });

  it('sends every failure of a Task state to ReportFailure, keeping the error and cause', () => {
    const uncaught = Object.entries(definition.States)
      .filter(([, state]) => state.Type === 'Task')
      .filter(([, state]) => !state.Catch?.some((c) => c.ErrorEquals.includes('States.ALL')))
      .map(([name]) => name);
    expect(uncaught).toEqual([]);
    const failure = definition.States.PipelineFailed as { ErrorPath?: string; CausePath?: string };
    expect(failure).toMatchObject({
      Type: 'Fail',
      ErrorPath: '$.failure.Error',
      CausePath: '$.failure.Cause',
    });
  });

  it('retries the Lambda service errors on every Lambda task', () => {
    const lambdaTasks = Object.entries(definition.States).filter(
      ([, state]) => state.Type === 'Task' && String(state.Resource).includes(':lambda:'),
    );
    expect(lambdaTasks.length).toBeGreaterThan(0);
    for (const [name, state] of lambdaTasks) {
      const retried = state.Retry?.flatMap((r) => r.ErrorEquals) ?? [];
      expect(retried, name).toEqual(
        expect.arrayContaining(['Lambda.ServiceException', 'Lambda.TooManyRequestsException']),
      );
    }
  });

  it('gives each runner state a heartbeat allowance that covers a slow Fargate start', () => {
    // Measured RunTask → RUNNING on Fargate: ~30 s for small images, 55 s for a 2.7 GB one, reports
    // of up to 3 minutes for large images (docs/runner.md, "Heartbeats"). The runner beats at start,
    // then every 20 s (STEPLINE_HEARTBEAT_SECONDS).
    const slowFargateStartSeconds = 180;
    const heartbeatIntervalSeconds = 20;
    const runnerStates = Object.entries(definition.States).filter(
      ([, state]) => state.Resource === 'arn:aws:states:::ecs:runTask.waitForTaskToken',
    );
    expect(runnerStates.map(([name]) => name)).toEqual(['Build', 'Test', 'PublishImage']);
    for (const [name, state] of runnerStates) {
      expect(state.HeartbeatSeconds as number, name).toBeGreaterThanOrEqual(
        slowFargateStartSeconds + 2 * heartbeatIntervalSeconds,
      );
      expect(state.Comment, name).toContain(`HeartbeatSeconds ${state.HeartbeatSeconds}`);
    }
  });

  it('lists exactly the placeholders the file uses', () => {
    expect([...placeholdersIn(readDefinition())].sort()).toEqual([...placeholders].sort());
  });
});

describe('render', () => {
  it('rejects a missing substitution by name', () => {
    const { RunnerSubnets: _omitted, ...partial } = localSubstitutions;
    expect(() => render(partial as Substitutions)).toThrow('missing substitution "RunnerSubnets"');
  });

  it('rejects an unknown substitution by name', () => {
    expect(() => render({ ...localSubstitutions, Surprise: 'x' } as Substitutions)).toThrow(
      'unknown substitution "Surprise"',
    );
  });

  it('rejects a value that would break the JSON it lands in', () => {
    expect(() => render({ ...localSubstitutions, RunnerContainerName: 'a"b' })).toThrow(
      'RunnerContainerName',
    );
  });

  it('leaves no placeholder behind', () => {
    expect(placeholdersIn(render(localSubstitutions))).toEqual([]);
  });
});
