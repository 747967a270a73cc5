import { PipelineError } from '#shared/errors.ts';
import { fitJsonString, jsonBytes, payloadBudget } from '#shared/payload-budget.ts';
import type { StageResult } from './stage-result.ts';

/** What each stage's result may take in the execution state (`$.build`, `$.test`, `$.publish`). */
export const stageResultBudget: Record<StageResult['stage'], number> = {
  build: payloadBudget.build,
  test: payloadBudget.test,
  publish: payloadBudget.publish,
};

/** Commands listed in a result; a longer list keeps its first and last ones (the failing one is last). */
export const maxListedCommands = 20;
const maxCommandJsonBytes = 200;
const maxFailureFieldJsonBytes = { suite: 160, name: 200, message: 400 } as const;

/**
 * The stage's result cut to its budget: command lines and test names shortened, the command list
 * kept to its first and last {@link maxListedCommands}, then failing tests dropped from the end
 * while it is still too big. The full story is in the stage log (`logKey`).
 * @throws PipelineError never in practice: only when the fixed fields alone overflow
 */
export function fitStageResult(result: StageResult, budget = stageResultBudget[result.stage]): StageResult {
  let commands = result.commands.map((c) => ({
    ...c,
    command: fitJsonString(c.command, maxCommandJsonBytes),
  }));
  let omitted = result.commandsOmitted ?? 0;
  if (commands.length > maxListedCommands) {
    const half = maxListedCommands / 2;
    omitted += commands.length - maxListedCommands;
    commands = [...commands.slice(0, half), ...commands.slice(-half)];
  }
  const fitted: StageResult = {
    ...result,
    commands,
    ...(omitted > 0 ? { commandsOmitted: omitted } : {}),
    ...(result.tests
      ? {
          tests: {
            ...result.tests,
            failures: result.tests.failures.map((f) => ({
              ...f,
              suite: fitJsonString(f.suite, maxFailureFieldJsonBytes.suite),
              name: fitJsonString(f.name, maxFailureFieldJsonBytes.name),
              message: fitJsonString(f.message, maxFailureFieldJsonBytes.message),
            })),
          },
        }
      : {}),
  };
  while (jsonBytes(fitted) > budget && fitted.tests && fitted.tests.failures.length > 0) {
    fitted.tests = { ...fitted.tests, failures: fitted.tests.failures.slice(0, -1) };
  }
  while (jsonBytes(fitted) > budget && fitted.commands.length > 0) {
    fitted.commands = fitted.commands.slice(1);
    fitted.commandsOmitted = (fitted.commandsOmitted ?? 0) + 1;
  }
  if (jsonBytes(fitted) > budget) {
    // Only keys and names are left, each bounded by where it comes from; this is a bug, said plainly.
    throw new PipelineError(
      `the ${result.stage} result takes ${jsonBytes(fitted)} bytes, over its ${budget}-byte budget`,
    );
  }
  return fitted;
}
