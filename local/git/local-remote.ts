import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { git } from './git.ts';

const cliPath = fileURLToPath(new URL('../../bin/stepline.js', import.meta.url));

export interface LocalRemoteOptions {
  dataDir: string;
  /** `owner/name`, also the path of the bare repository under `<dataDir>/git/`. */
  fullName: string;
  webhookUrl: string;
}

/**
 * A bare repository that behaves like a git provider: its `post-receive` hook sends a signed
 * GitHub-style push webhook for every updated ref, so a plain `git push` starts a pipeline run.
 * Returns the bare repository's path (use it as a git remote).
 */
export async function ensureLocalRemote(options: LocalRemoteOptions): Promise<string> {
  const bare = resolve(options.dataDir, 'git', `${options.fullName}.git`);
  if (!existsSync(join(bare, 'HEAD'))) {
    await mkdir(bare, { recursive: true });
    await git(bare, ['init', '--quiet', '--bare', '--initial-branch=main']);
  }
  // The hook reads these at push time; the webhook URL changes when the server's port does.
  await git(bare, ['config', 'stepline.webhookUrl', options.webhookUrl]);
  await git(bare, ['config', 'stepline.fullName', options.fullName]);
  // The secret stays in the data directory's own file (mode 0600): the hook reads it from there.
  await git(bare, ['config', 'stepline.dataDir', resolve(options.dataDir)]);
  const hook = join(bare, 'hooks', 'post-receive');
  await writeFile(
    hook,
    `#!/bin/sh\n# Installed by Stepline: tells the local pipeline about this push, as a git provider would.\nexec "${process.execPath}" "${cliPath}" git-hook post-receive\n`,
  );
  await chmod(hook, 0o755);
  return bare;
}
