import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Identity used when the machine has no git user configured (a fresh CI box). */
const fallbackIdentity = {
  GIT_AUTHOR_NAME: 'Stepline',
  GIT_AUTHOR_EMAIL: 'stepline@localhost',
  GIT_COMMITTER_NAME: 'Stepline',
  GIT_COMMITTER_EMAIL: 'stepline@localhost',
};

/** Runs git with an argument array (never a shell) and returns trimmed stdout. */
export async function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await run('git', args, {
      cwd,
      env: { ...fallbackIdentityUnlessConfigured(), ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`git ${args.join(' ')} failed in ${cwd}${stderr ? `: ${stderr}` : ''}`, { cause: error });
  }
}

function fallbackIdentityUnlessConfigured(): NodeJS.ProcessEnv {
  return process.env.GIT_AUTHOR_NAME || process.env.GIT_COMMITTER_NAME ? {} : fallbackIdentity;
}

/** Same as {@link git} but with the fallback identity forced, for commits Stepline makes itself. */
export async function gitCommit(cwd: string, args: string[]): Promise<string> {
  return git(cwd, [
    '-c',
    `user.name=${fallbackIdentity.GIT_AUTHOR_NAME}`,
    '-c',
    `user.email=${fallbackIdentity.GIT_AUTHOR_EMAIL}`,
    ...args,
  ]);
}
