import { describe, expect, it } from 'vitest';
import { fitStageResult, maxListedCommands } from '#functions/runner/result-budget.ts';
import { failureCause } from '#functions/runner/run-stage.ts';
import type { StageResult } from '#functions/runner/stage-result.ts';
import { BuildFailedError, PipelineConfigError } from '#shared/errors.ts';
import {
  fitJsonString,
  jsonBytes,
  jsonStringBytes,
  maxCauseJsonBytes,
  maxErrorMessageJsonBytes,
  payloadBudget,
} from '#shared/payload-budget.ts';

function result(over: Partial<StageResult> = {}): StageResult {
  return {
    stage: 'build',
    commit: 'a'.repeat(40),
    durationMs: 1,
    commandsMs: 1,
    commands: [],
    logKey: 'runs/x/logs/build.log',
    ...over,
  };
}

describe('fitStageResult', () => {
  it('leaves a small result as it is', () => {
    const small = result({ commands: [{ command: 'npm ci', exitCode: 0, durationMs: 5 }] });

    expect(fitStageResult(small)).toEqual(small);
  });

  it('keeps the first and last commands of a long list, so the failing one stays, and counts the rest', () => {
    const commands = Array.from({ length: 50 }, (_, i) => ({
      command: `step ${i}`,
      exitCode: 0,
      durationMs: 1,
    }));

    const fitted = fitStageResult(result({ commands }));

    expect(fitted.commands).toHaveLength(maxListedCommands);
    expect(fitted.commands.at(0)?.command).toBe('step 0');
    expect(fitted.commands.at(-1)?.command).toBe('step 49');
    expect(fitted.commandsOmitted).toBe(30);
  });

  it('drops failing tests from the end until the test result fits its budget', () => {
    const failures = Array.from({ length: 10 }, (_, i) => ({
      suite: `suite ${i} ${'s'.repeat(5000)}`,
      name: 'n'.repeat(5000),
      kind: 'failure' as const,
      message: '"'.repeat(500),
    }));
    const tests = { total: 10, passed: 0, failed: 10, errors: 0, skipped: 0, reports: 1, failures };

    const fitted = fitStageResult(result({ stage: 'test', tests }), 4096);

    expect(jsonBytes(fitted)).toBeLessThanOrEqual(4096);
    expect(fitted.tests?.failures.length).toBeGreaterThan(0);
    expect(fitted.tests?.failures[0]?.suite.startsWith('suite 0')).toBe(true);
    expect(fitted.tests?.failed).toBe(10);
    expect(jsonBytes(fitStageResult(result({ stage: 'test', tests })))).toBeLessThanOrEqual(
      payloadBudget.test,
    );
  });
});

describe('failureCause', () => {
  it('keeps the start of the message and the end of the log within the cause budget', () => {
    const cause = failureCause(
      new BuildFailedError('npm run build exited 2'),
      `${'early\n'.repeat(10_000)}the last line`,
    );

    expect(jsonStringBytes(cause)).toBeLessThanOrEqual(maxCauseJsonBytes);
    expect(cause.startsWith('npm run build exited 2\n--- last lines of the log ---\n')).toBe(true);
    expect(cause.endsWith('the last line')).toBe(true);
  });

  it('counts escaped characters (terminal colours) by what they take as JSON', () => {
    const cause = failureCause(new BuildFailedError('failed'), '\u001b[31mred\u001b[0m\n'.repeat(5000));

    expect(jsonStringBytes(cause)).toBeLessThanOrEqual(maxCauseJsonBytes);
  });
});

describe('typed errors', () => {
  it('cut their message to the error-message budget, marking the cut', () => {
    const error = new PipelineConfigError(
      `stepline.yml has 500 problems:\n${'build.commands: wrong\n'.repeat(500)}`,
    );

    expect(jsonStringBytes(error.message)).toBeLessThanOrEqual(maxErrorMessageJsonBytes);
    expect(error.message.startsWith('stepline.yml has 500 problems:')).toBe(true);
    expect(error.message.endsWith('… (cut)')).toBe(true);
  });

  it('cut between characters, never inside one', () => {
    const cut = fitJsonString('😀'.repeat(100), 30);

    expect(cut).toBe(`${'😀'.repeat(4)}… (cut)`);
    expect(jsonStringBytes(cut)).toBeLessThanOrEqual(30);
  });
});
