import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { greet, MAX_NAME_LENGTH } from '../src/greeting.js';

describe('greet', () => {
  it('greets a name', () => {
    assert.deepEqual(greet('Ada'), { message: 'Hello, Ada!' });
  });

  it('greets the world when no name is given', () => {
    assert.deepEqual(greet(null), { message: 'Hello, world!' });
  });

  it('ignores the blanks around a name', () => {
    assert.deepEqual(greet('  Grace \t'), { message: 'Hello, Grace!' });
  });

  it('refuses a name longer than the limit', () => {
    assert.throws(() => greet('x'.repeat(MAX_NAME_LENGTH + 1)), RangeError);
  });
});
