import { describe, expect, it } from 'vitest';
import { executionArn, executionName } from '#functions/webhook/execution.ts';

describe('executionName', () => {
  it('joins provider and delivery id', () => {
    expect(executionName('github', '72d3162e-cc78-11e3-81ab-4c9367dc0958')).toBe(
      'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
    );
  });

  it('drops characters Step Functions does not allow in a name', () => {
    expect(executionName('bitbucket', '{0c2a5e64-8b5f}')).toBe('bitbucket-0c2a5e64-8b5f');
  });

  it('keeps names at most 80 characters, telling long ids apart by a hash', () => {
    const a = executionName('gitlab', `${'a'.repeat(100)}1`);
    const b = executionName('gitlab', `${'a'.repeat(100)}2`);

    expect(a).toHaveLength(80);
    expect(b).toHaveLength(80);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('gives a redelivery the same name', () => {
    expect(executionName('gitea', 'x'.repeat(200))).toBe(executionName('gitea', 'x'.repeat(200)));
  });
});

describe('executionArn', () => {
  it('derives the execution ARN from the state machine ARN', () => {
    expect(
      executionArn('arn:aws:states:eu-west-1:123456789012:stateMachine:stepline-pipeline', 'github-1'),
    ).toBe('arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-1');
  });

  it('refuses something that is not a state machine ARN', () => {
    expect(() => executionArn('arn:aws:lambda:eu-west-1:123456789012:function:f', 'x')).toThrow(
      /not a state machine ARN/,
    );
  });
});
