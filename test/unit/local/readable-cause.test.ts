import { describe, expect, it } from 'vitest';
import { indentCause, readableCause } from '#local/commands/story.ts';

describe('readableCause', () => {
  it("shows a Lambda failure's errorMessage, not the runtime's JSON around it", () => {
    const cause = JSON.stringify({
      errorMessage: 'stepline.yml has 1 problem:\nbuild.commands[0]: expected string',
      errorType: 'PipelineConfigError',
      trace: ['PipelineConfigError: stepline.yml has 1 problem:', '    at readConfig (index.mjs:1:2)'],
    });

    expect(readableCause(cause)).toBe('stepline.yml has 1 problem:\nbuild.commands[0]: expected string');
    expect(indentCause(cause)).toBe(
      '      stepline.yml has 1 problem:\n      build.commands[0]: expected string',
    );
  });

  it('keeps any other cause as it is, JSON-looking or not', () => {
    expect(readableCause('the runner exited with code 3')).toBe('the runner exited with code 3');
    expect(readableCause('{"errorMessage": cut sho')).toBe('{"errorMessage": cut sho');
    expect(readableCause(undefined)).toBe('');
  });
});
