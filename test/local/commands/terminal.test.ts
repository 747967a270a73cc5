import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listExecutions, showExecution } from '#local/commands/executions.ts';
import { indentCause } from '#local/commands/story.ts';
import { printable } from '#local/commands/terminal.ts';
import { appendHistoryEvent, writeStoredExecution } from '#local/sfn/store.ts';

/** A ref that sets the terminal's title when printed as it is (OSC 0 … BEL). */
const hostileRef = 'main\u001b]0;pwned\u0007';
// biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for control characters
const controlCharacters = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('printable', () => {
  it('shows C0 controls, DEL and C1 controls escaped', () => {
    expect(printable('a\u001b]0;title\u0007b')).toBe('a\\x1b]0;title\\x07b');
    expect(printable('\u0000\r\u007f\u009b')).toBe('\\x00\\x0d\\x7f\\x9b');
  });

  it('shows the bidirectional overrides escaped', () => {
    expect(printable('abc\u202edef')).toBe('abc\\u202edef');
  });

  it('escapes newline and tab in a line, and keeps them in a multi-line text', () => {
    expect(printable('a\nb\tc')).toBe('a\\x0ab\\x09c');
    expect(printable('a\nb\tc\u001b[2J', { multiline: true })).toBe('a\nb\tc\\x1b[2J');
  });

  it('leaves printable text alone, unicode included', () => {
    const text = 'local/hello-service main @ 6113728f27ae ✓ 日本 😀 C:\\path';
    expect(printable(text)).toBe(text);
  });

  it('escapes the lines of a cause', () => {
    expect(indentCause('line 1\n\u001b[31mred\u001b[0m')).toBe('      line 1\n      \\x1b[31mred\\x1b[0m');
  });
});

describe('executions list and show with a hostile push', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'stepline-terminal-'));
    const name = 'github-72d3162e';
    writeStoredExecution(dataDir, {
      name,
      executionArn: `arn:aws:states:local:000000000000:execution:stepline-pipeline:${name}`,
      stateMachineArn: 'arn:aws:states:local:000000000000:stateMachine:stepline-pipeline',
      status: 'FAILED',
      input: JSON.stringify({
        repository: { fullName: 'acme/\u001b[2Japi' },
        refName: hostileRef,
        after: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      }),
      error: 'BuildFailedError\u001b]0;error\u0007',
      cause: 'npm test\n\u001b]0;cause\u0007failed\n\ttab kept',
      startDate: '2024-03-12T19:03:58.000Z',
      stopDate: '2024-03-12T19:04:58.000Z',
      ownerPid: 1,
      ownerId: 'test',
    });
    const at = (s: number) => new Date(Date.parse('2024-03-12T19:03:58.000Z') + s * 1000);
    appendHistoryEvent(dataDir, name, {
      id: 1,
      previousEventId: 0,
      timestamp: at(0),
      type: 'TaskStateEntered',
      stateEnteredEventDetails: { name: 'Build' },
    } as never);
    appendHistoryEvent(dataDir, name, {
      id: 2,
      previousEventId: 1,
      timestamp: at(30),
      type: 'TaskFailed',
      taskFailedEventDetails: { error: 'BuildFailedError\u001b[2J', cause: 'out\n\u001b]0;build\u0007' },
    } as never);
    appendHistoryEvent(dataDir, name, {
      id: 3,
      previousEventId: 2,
      timestamp: at(31),
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'BuildFailedError', cause: 'out' },
    } as never);
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints the ref and the repository escaped in executions list', () => {
    const lines: string[] = [];

    expect(listExecutions(dataDir, (line) => lines.push(line))).toBe(0);

    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('acme/\\x1b[2Japi main\\x1b]0;pwned\\x07 @ 6113728f27ae');
    expect(lines[0]).not.toMatch(controlCharacters);
    expect(lines[0]).not.toContain('\n');
  });

  it('prints the push, the states and the cause escaped in executions show, the cause on its lines', () => {
    const lines: string[] = [];

    expect(showExecution(dataDir, 'github-72d3162e', (line) => lines.push(line))).toBe(0);

    const text = lines.join('\n');
    expect(text).toContain('main\\x1b]0;pwned\\x07');
    expect(text).toContain('BuildFailedError\\x1b[2J');
    expect(text).toContain('BuildFailedError\\x1b]0;error\\x07');
    expect(text).toContain('      \\x1b]0;cause\\x07failed\n      \ttab kept');
    for (const line of lines) expect(line).not.toMatch(controlCharacters);
  });
});
