import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { maxFailures, mergeJUnit, parseJUnit } from '#functions/runner/junit.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseJUnit', () => {
  it('counts the cases of a Node test runner report, bare cases and nested suites alike', () => {
    const summary = parseJUnit(fixture('node-test-junit.xml'));

    expect(summary).toMatchObject({ total: 6, passed: 2, failed: 2, errors: 0, skipped: 2 });
  });

  it('names a failing Node test with its suite and the assertion message', () => {
    const summary = parseJUnit(fixture('node-test-junit.xml'));

    expect(summary.failures).toEqual([
      {
        suite: 'test',
        name: 'top fail',
        kind: 'failure',
        message: 'Expected values to be strictly equal:1 !== 2',
      },
      { suite: 'greeting', name: 'nested <fail> & &quot;q&quot;', kind: 'failure', message: 'boom <x>' },
    ]);
  });

  it('reads a lone surefire <testsuite> with a failure, an error and a skipped case', () => {
    const summary = parseJUnit(fixture('surefire-junit.xml'));

    expect(summary).toMatchObject({ total: 4, passed: 1, failed: 1, errors: 1, skipped: 1 });
    expect(summary.failures[0]).toEqual({
      suite: 'com.example.greeting.GreetingServiceTest',
      name: 'rejectsBlankName',
      kind: 'failure',
      message: 'expected: <400> but was: <200>',
    });
  });

  it('takes the first line of the text when an error has no message attribute', () => {
    const summary = parseJUnit(fixture('surefire-junit.xml'));

    expect(summary.failures[1]).toMatchObject({
      kind: 'error',
      message: 'java.io.FileNotFoundException: templates/hello.txt (No such file or directory)',
    });
  });

  it('reads a pytest report', () => {
    const summary = parseJUnit(fixture('pytest-junit.xml'));

    expect(summary).toMatchObject({ total: 4, passed: 2, failed: 1, errors: 0, skipped: 1 });
    expect(summary.failures[0]).toMatchObject({ suite: 'pytest', name: 'test_greet_empty_name' });
    expect(summary.failures[0]?.message).toMatch(/^AssertionError: assert 'Hello, !' == 'Hello, world!'/);
  });

  it('counts a suite-level error that belongs to no test case', () => {
    const xml = '<testsuite name="db"><error message="fixture crashed"/><testcase name="a"/></testsuite>';

    expect(parseJUnit(xml)).toMatchObject({
      total: 2,
      passed: 1,
      errors: 1,
      failures: [{ suite: 'db', name: '(suite)', kind: 'error', message: 'fixture crashed' }],
    });
  });

  it('keeps only the first failures of a large report', () => {
    const cases = Array.from(
      { length: 25 },
      (_, i) => `<testcase name="t${i}"><failure message="m"/></testcase>`,
    );

    const summary = parseJUnit(`<testsuites><testsuite name="s">${cases.join('')}</testsuite></testsuites>`);

    expect(summary.failed).toBe(25);
    expect(summary.failures).toHaveLength(maxFailures);
  });

  it('refuses text that is not XML, saying why', () => {
    expect(() => parseJUnit('<testsuite><testcase></testsuite>')).toThrow(/not a JUnit XML report: .*line 1/);
  });

  it('refuses XML without a testsuite element', () => {
    expect(() => parseJUnit('<coverage line-rate="1"/>')).toThrow(/no <testsuites> or <testsuite>/);
  });
});

describe('mergeJUnit', () => {
  it('adds the counts of two reports', () => {
    const merged = mergeJUnit(
      parseJUnit(fixture('pytest-junit.xml')),
      parseJUnit(fixture('surefire-junit.xml')),
    );

    expect(merged).toMatchObject({ total: 8, passed: 3, failed: 2, errors: 1, skipped: 2 });
    expect(merged.failures.map((f) => f.name)).toEqual([
      'test_greet_empty_name',
      'rejectsBlankName',
      'loadsTemplates',
    ]);
  });
});
