import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const identity = { name: 'Stepline', email: 'stepline@localhost' };

/** Runs git with an argument array (never a shell) and returns trimmed stdout. */
export async function git(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    const { stdout } = await run('git', args, {
      cwd,
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    // Only the subcommand is named: arguments may hold values that do not belong in a terminal.
    throw new Error(`git ${subcommand(args)} failed in ${cwd}${stderr ? `: ${stderr}` : ''}`, {
      cause: error,
    });
  }
}

function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-c' || args[i] === '-C') i++;
    else if (!args[i]!.startsWith('-')) return args[i]!;
  }
  return '';
}

/** Commits Stepline makes itself (snapshots, the demo) carry Stepline's identity, whatever the machine's git config. */
export async function gitCommit(cwd: string, args: string[]): Promise<string> {
  return git(cwd, [
    '-c',
    `user.name=${identity.name}`,
    '-c',
    `user.email=${identity.email}`,
    '-c',
    'commit.gpgsign=false',
    ...args,
  ]);
}
