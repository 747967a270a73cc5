import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, realpath, rm } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { UsageError } from '#local/config.ts';
import { git, gitCommit } from '#local/git/git.ts';

export interface PushableRepo {
  /** Repository holding the commit to push. */
  repoDir: string;
  /** Set when `dir` was not a repository of its own and a snapshot commit was made of it. */
  snapshotOf?: string;
}

const neverCopied = new Set(['.git', 'node_modules', '.stepline']);

async function gitTopLevel(dir: string): Promise<string | undefined> {
  try {
    return await realpath(await git(dir, ['rev-parse', '--show-toplevel']));
  } catch {
    return undefined;
  }
}

/**
 * A directory to push. A repository's own root is pushed as it is. Anything else (such as
 * `examples/hello-service` inside Stepline's repository) is committed as a snapshot into a
 * workspace repository under the data directory; an unchanged directory gives the same commit.
 */
export async function pushableRepo(dir: string, dataDir: string): Promise<PushableRepo> {
  const full = resolve(dir);
  if (!existsSync(full)) throw new UsageError(`${full} does not exist`);
  const real = await realpath(full);
  const top = await gitTopLevel(real);
  if (top === real) return { repoDir: real };

  const workspace = join(resolve(dataDir), 'workspaces', basename(real));
  await mkdir(workspace, { recursive: true });
  if (!existsSync(join(workspace, '.git')))
    await git(workspace, ['init', '--quiet', '--initial-branch=main']);
  for (const entry of await readdir(workspace)) {
    if (entry !== '.git') await rm(join(workspace, entry), { recursive: true, force: true });
  }
  const files = top
    ? (await git(real, ['ls-files', '--cached', '--others', '--exclude-standard', '-z', '.']))
        .split('\0')
        .filter(Boolean)
    : undefined;
  if (files) {
    for (const file of files) {
      if (!existsSync(join(real, file))) continue;
      await cp(join(real, file), join(workspace, file), { recursive: true });
    }
  } else {
    await cp(real, workspace, {
      recursive: true,
      filter: (source) =>
        !relative(real, source)
          .split('/')
          .some((part) => neverCopied.has(part)),
    });
  }
  await git(workspace, ['add', '--all']);
  const changed = (await git(workspace, ['status', '--porcelain'])) !== '';
  if (changed) await gitCommit(workspace, ['commit', '--quiet', '--no-verify', '-m', `Snapshot of ${real}`]);
  return { repoDir: workspace, snapshotOf: real };
}
