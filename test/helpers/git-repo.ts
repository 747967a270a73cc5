import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Identity and settings passed with `-c`, so tests never depend on the machine's git config. */
const gitConfig = [
  '-c',
  'user.name=Stepline Test',
  '-c',
  'user.email=test@stepline.invalid',
  '-c',
  'commit.gpgsign=false',
  '-c',
  'init.defaultBranch=main',
];

export interface GitRepo {
  /** Absolute path of the working tree. */
  dir: string;
  /** Writes `files` (path → content), commits them all, and returns the new commit's SHA. */
  commit(files: Record<string, string>, message?: string): Promise<string>;
  /** Runs `git <args>` in the repository and returns stdout. */
  git(...args: string[]): Promise<string>;
  /** Deletes the repository. */
  remove(): Promise<void>;
}

/** Creates an empty git repository in a fresh temporary directory. */
export async function createGitRepo(): Promise<GitRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'stepline-repo-'));
  const git = async (...args: string[]) =>
    (await run('git', [...gitConfig, ...args], { cwd: dir, env: { ...process.env, GIT_DIR: undefined } }))
      .stdout;
  await git('init', '--quiet');
  return {
    dir,
    git,
    async commit(files, message = 'test commit') {
      for (const [path, content] of Object.entries(files)) {
        const absolute = join(dir, path);
        await mkdir(dirname(absolute), { recursive: true });
        await writeFile(absolute, content);
      }
      await git('add', '--all');
      await git('commit', '--quiet', '--allow-empty', '-m', message);
      return (await git('rev-parse', 'HEAD')).trim();
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
