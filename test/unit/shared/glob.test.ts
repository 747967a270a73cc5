import fc from 'fast-check';
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { globMatcher, globProblem, matchesGlob } from '#shared/glob.ts';

/** Names as the webhook meets them: branch and tag names, changed paths, `owner/name` (no `.`/`..` or empty segments). */
const segment = fc
  .array(fc.constantFrom('a', 'b', 'c', 'A', 'x', '.', '-', '_', '1', 'v', 'js', 'md'), {
    minLength: 1,
    maxLength: 4,
  })
  .map((parts) => parts.join(''))
  .filter((s) => s !== '.' && s !== '..');
const name = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));

/** Patterns of the supported syntax, built from the pieces real configs use. */
const piece = fc.constantFrom(
  'a',
  'b',
  'c',
  'x',
  '.',
  '-',
  'v',
  'js',
  'md',
  '*',
  '?',
  '[a-c]',
  '[^a]',
  '[^b.]',
  '{a,b}',
  'v{,x}',
  '{a,{b,c}}',
  '{a/b,c}',
  '\\*',
  '\\.',
);
const globSegment = fc.oneof(
  { weight: 4, arbitrary: fc.array(piece, { minLength: 1, maxLength: 3 }).map((p) => p.join('')) },
  { weight: 1, arbitrary: fc.constant('**') },
);
const pattern = fc
  .tuple(fc.boolean(), fc.array(globSegment, { minLength: 1, maxLength: 4 }))
  .map(([negated, parts]) => `${negated ? '!' : ''}${parts.join('/')}`);

describe('glob', () => {
  it('matches as picomatch does (dot: true) on generated patterns and names', () => {
    fc.assert(
      fc.property(pattern, fc.array(name, { minLength: 1, maxLength: 8 }), (glob, names) => {
        fc.pre(globProblem(glob) === undefined); // too many brace alternatives, ** inside a segment: refused
        const ours = globMatcher(glob);
        const theirs = picomatch(glob, { dot: true });
        for (const input of names) expect([glob, input, ours(input)]).toEqual([glob, input, theirs(input)]);
      }),
      { numRuns: 3000 },
    );
  });

  it('matches as picomatch does without regard to case when asked (repository names)', () => {
    fc.assert(
      fc.property(pattern, fc.array(name, { minLength: 1, maxLength: 8 }), (glob, names) => {
        fc.pre(globProblem(glob) === undefined);
        const ours = globMatcher(glob, { nocase: true });
        const theirs = picomatch(glob, { dot: true, nocase: true });
        for (const input of names) expect([glob, input, ours(input)]).toEqual([glob, input, theirs(input)]);
      }),
      { numRuns: 1000 },
    );
  });

  it.each([
    ['main', 'main', true],
    ['main', 'main2', false],
    ['release/*', 'release/1.2', true],
    ['release/*', 'release/1/2', false],
    ['**', '.github/workflows/ci.yml', true],
    ['docs/**', 'docs', true],
    ['docs/**', 'docs/a/b.md', true],
    ['**/*.md', 'README.md', true],
    ['src/**/test/*.ts', 'src/test/a.ts', true],
    ['v[0-9]*', 'v1.0.0', true],
    ['{feature,fix}/*', 'fix/login', true],
    ['!main', 'dev', true],
    ['!main', 'main', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['**', 'a/../b', false],
  ])('"%s" against "%s" is %s, as in picomatch', (glob, input, expected) => {
    expect(matchesGlob(glob, input)).toBe(expected);
    expect(picomatch(glob, { dot: true })(input)).toBe(expected);
  });

  it.each([
    ['@(a|b)', /extglobs/],
    ['+(a)', /extglobs/],
    ['!(a)', /extglobs/],
    ['a(b)', /parentheses/],
    ['[[:alpha:]]', /POSIX classes/],
    ['v{1..9}', /ranges in braces/],
    ['**.md', /only as a whole segment/],
    ['{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}', /more than 256 alternatives/],
  ])('refuses "%s", which picomatch would read with other syntax', (glob, problem) => {
    expect(globProblem(glob)).toMatch(problem);
    expect(() => globMatcher(glob)).toThrow(problem);
  });

  it('accepts the patterns it matches', () => {
    for (const glob of ['main', '**', 'release/*', '{a,b}/**/*.{ts,js}', '[^.]*', 'a\\(b'])
      expect(globProblem(glob)).toBeUndefined();
  });
});
