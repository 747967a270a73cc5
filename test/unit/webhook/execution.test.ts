import { describe, expect, it } from 'vitest';
import { executionArn, executionName } from '#functions/webhook/execution.ts';

describe('executionName', () => {
  it('joins provider and delivery id', () => {
    expect(executionName('github', '72d3162e-cc78-11e3-81ab-4c9367dc0958')).toBe(
      'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
    );
  });

  it('drops characters Step Functions does not allow in a name, and then tells the exact id by a hash', () => {
    expect(executionName('bitbucket', '{0c2a5e64-8b5f}')).toMatch(/^bitbucket-0c2a5e64-8b5f-[0-9a-f]{16}$/);
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
    expect(executionName('github', '"')).toBe(executionName('github', '"'));
    expect(executionName('github', 'a.b')).toBe(executionName('github', 'a.b'));
  });

  it('gives ids that clean to the same text different names', () => {
    // `"` and `..` both became `github-`, and the second push was taken for a redelivery.
    const ids = [
      '"',
      '..',
      '',
      'ab',
      'a.b',
      'a..b',
      'a b',
      'a/b',
      'ä-b',
      'é',
      'e\u0301',
      '日本',
      '😀',
      '\u0000',
      '\u001b]0;title\u0007',
      '<script>',
      `${'a'.repeat(100)}`,
      `${'a'.repeat(100)}.`,
      `${'a'.repeat(73)}`,
      `${'a'.repeat(74)}`,
      `${'a'.repeat(73)}.`,
    ];
    const names = ids.map((id) => executionName('github', id));

    expect(new Set(names).size).toBe(ids.length);
  });

  it('makes a valid name of any id: [A-Za-z0-9_-], 1 to 80 characters', () => {
    const hostile = [
      '"',
      '..',
      "'; DROP TABLE executions; --",
      '../../etc/passwd',
      '日本語のID',
      '😀'.repeat(100),
      '\u001b]0;pwned\u0007',
      ' \t\n',
      'x'.repeat(10_000),
      '%2e%2e',
    ];
    for (const id of hostile) {
      for (const provider of ['github', 'gitlab', 'gitea', 'bitbucket']) {
        const name = executionName(provider, id);
        expect(name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
        expect(name.startsWith(`${provider}-`)).toBe(true);
      }
    }
  });

  it('keeps a clean id as it is, and the readable part of one it had to clean', () => {
    expect(executionName('gitlab', 'abc_DEF-123')).toBe('gitlab-abc_DEF-123');
    expect(executionName('gitlab', 'abc.def')).toMatch(/^gitlab-abcdef-[0-9a-f]{16}$/);
    const longest = `gitlab-${'b'.repeat(73)}`;
    expect(longest).toHaveLength(80);
    expect(executionName('gitlab', 'b'.repeat(73))).toBe(longest);
  });

  it("names a delivery apart from another provider's delivery with the same id", () => {
    expect(executionName('github', '..')).not.toBe(executionName('gitea', '..'));
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
