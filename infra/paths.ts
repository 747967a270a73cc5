import { fileURLToPath } from 'node:url';

/** The repository root: Lambda entries, the runner's Docker build context and the lock file live under it. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/**
 * Paths kept out of every Docker build context taken from the repository root (mirrors `.dockerignore`,
 * which CDK also reads): local state, build output, and dependencies the image installs itself with `npm ci`.
 */
export const dockerContextExcludes = [
  'node_modules',
  '**/node_modules',
  'cdk.out',
  '.stepline',
  '.git',
  'coverage',
  '*.log',
] as const;

/**
 * The runner image's build context: the repository root reduced to what functions/runner/Dockerfile
 * copies (package files and functions/). Docker ignore semantics: `*` drops everything, `!` brings a
 * path back, later lines win. Keeps the image hash stable when docs or tests change; a Dockerfile
 * that COPYs more must be listed here too.
 */
export const runnerContextExcludes = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!functions',
  ...dockerContextExcludes,
] as const;
