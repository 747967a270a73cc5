import { execFile } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import * as z from 'zod';
import { TaskInputError } from '#shared/errors.ts';
import { buildSessionOf, buildSessionVariable } from './sandbox-processes.ts';

/**
 * `STEPLINE_SANDBOX`: how the user's commands are kept away from the runner.
 * - `auto` (default): bubblewrap when it works here, else a separate user when the runner is root,
 *   else no sandbox with a warning in every stage log;
 * - `bwrap`, `user`: that one, or the stage fails with TaskInputError saying why it cannot;
 * - `none`: no sandbox (the warning still says what the commands can reach).
 */
export const SandboxMode = z.enum(['auto', 'bwrap', 'user', 'none']);
export type SandboxMode = z.infer<typeof SandboxMode>;

export type SandboxKind = 'bwrap' | 'user' | 'none';

/** The unprivileged user a root runner runs the commands as. */
export interface BuildUser {
  name: string;
  uid: number;
  gid: number;
}

export interface SandboxChoice {
  kind: SandboxKind;
  /** bubblewrap's path (kind `bwrap`). */
  bwrap?: string;
  /** Set when the runner is root: the commands (and bwrap itself) run as this user. */
  user?: BuildUser;
  /** Why this kind and not a stronger one. */
  reason: string;
}

/** What one command is started as: `file args…` with this environment, as `uid`/`gid` when set. */
export interface SpawnPlan {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

/** The sandbox of one stage: every command of the stage is started through it. */
export interface StageSandbox {
  readonly choice: SandboxChoice;
  /** `STEPLINE_BUILD_SESSION` of this stage's commands (see sandbox-processes.ts). */
  readonly session: string;
  /** One line for the stage log: what the commands run in. */
  readonly summary: string;
  /** Set when the commands are not sandboxed: exactly what they can reach. */
  readonly warning?: string;
  /** How to start `sh -c command` in `cwd` with the build's environment `env`. */
  command(command: string, cwd: string, env: NodeJS.ProcessEnv): SpawnPlan;
  /** Hands the workdir to the build user (root runner only). Call after unpacking, before the commands. */
  prepare(): Promise<void>;
  /** Removes the stage's sandbox /tmp and home. */
  close(): Promise<void>;
}

/** The user a root runner drops to: `stepline-build` when /etc/passwd has it (the runner image does), else nobody. */
export function buildUser(passwd = readPasswd()): BuildUser {
  const entry = (name: string) => {
    const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
    const fields = line?.split(':');
    return fields && fields.length >= 4
      ? { name, uid: Number(fields[2]), gid: Number(fields[3]) }
      : undefined;
  };
  return entry('stepline-build') ?? entry('nobody') ?? { name: 'nobody', uid: 65534, gid: 65534 };
}

function readPasswd(): string {
  try {
    return readFileSync('/etc/passwd', 'utf8');
  } catch {
    return '';
  }
}

/** The directory bubblewrap's HOME is bound at inside the sandbox. */
export const sandboxHome = '/home/build';
const systemPaths = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];
const bwrapPaths = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];
const probes = new Map<string, Promise<string | undefined>>();

/**
 * Picks the sandbox for `mode` on this machine: bubblewrap is tried for real (the exact
 * arguments the commands get, as the build user when root), once per process and user.
 */
export async function chooseSandbox(
  mode: SandboxMode,
  options: { uid?: number; passwd?: string } = {},
): Promise<SandboxChoice> {
  const uid = options.uid ?? process.getuid?.() ?? -1;
  const root = uid === 0;
  const user = root ? buildUser(options.passwd) : undefined;
  if (mode === 'none') return { kind: 'none', reason: 'STEPLINE_SANDBOX=none' };
  let bwrapFailure: string | undefined;
  if (mode === 'auto' || mode === 'bwrap') {
    const bwrap = bwrapPaths.find((path) => existsSync(path));
    if (!bwrap) bwrapFailure = 'bubblewrap (bwrap) is not installed';
    else {
      bwrapFailure = await probeBwrap(bwrap, user);
      if (bwrapFailure === undefined) {
        return {
          kind: 'bwrap',
          bwrap,
          ...(user ? { user } : {}),
          reason: mode === 'bwrap' ? 'STEPLINE_SANDBOX=bwrap' : 'bubblewrap works here',
        };
      }
    }
    if (mode === 'bwrap')
      throw new TaskInputError(`STEPLINE_SANDBOX=bwrap, but bubblewrap cannot run here: ${bwrapFailure}`);
  }
  if (user) {
    return {
      kind: 'user',
      user,
      reason: mode === 'user' ? 'STEPLINE_SANDBOX=user' : `${bwrapFailure}; the runner is root`,
    };
  }
  if (mode === 'user')
    throw new TaskInputError(
      `STEPLINE_SANDBOX=user needs a runner running as root (uid 0) to switch users; it runs as uid ${uid}`,
    );
  return { kind: 'none', reason: `${bwrapFailure}, and the runner is not root (uid ${uid})` };
}

/** Undefined when bubblewrap made the sandbox and ran `true` in it; otherwise its error. */
function probeBwrap(bwrap: string, user: BuildUser | undefined): Promise<string | undefined> {
  const key = `${bwrap}:${user?.uid ?? 'self'}`;
  let probe = probes.get(key);
  if (!probe) {
    probe = (async () => {
      const scratch = await makeScratch(user);
      try {
        const plan = bwrapPlan(bwrap, { scratch, workdir: join(scratch, 'tmp'), user }, 'true', '/tmp', {
          PATH: '/usr/bin:/bin',
        });
        return await new Promise<string | undefined>((resolve) => {
          execFile(
            plan.file,
            plan.args,
            { env: plan.env, timeout: 10_000, ...(user ? { uid: user.uid, gid: user.gid } : {}) },
            (error, _stdout, stderr) =>
              resolve(error ? `${String(stderr).trim() || error.message} (${bwrap})` : undefined),
          );
        });
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    })();
    probes.set(key, probe);
  }
  return probe;
}

let stages = 0;

/** Opens the sandbox of one stage whose workspace is `workdir`. */
export async function openSandbox(mode: SandboxMode, options: { workdir: string }): Promise<StageSandbox> {
  const choice = await chooseSandbox(mode);
  stages += 1;
  const session = `${buildSessionOf(process.pid) ?? process.pid}.${stages}`;
  const scratch = await makeScratch(choice.user);
  const { workdir } = options;
  const base = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ ...env, [buildSessionVariable]: session });
  const close = () => rm(scratch, { recursive: true, force: true });
  const prepare = async () => {
    if (!choice.user) return;
    if (!reachableBy(dirname(workdir), choice.user))
      throw new TaskInputError(
        `the build user ${choice.user.name} (uid ${choice.user.uid}) cannot reach the workdir ${workdir}: every directory above it must be searchable by others (set STEPLINE_WORKDIR or TMPDIR to a directory under /tmp)`,
      );
    await chownTree(workdir, choice.user);
  };
  if (choice.kind === 'bwrap') {
    return {
      choice,
      session,
      summary: `stepline: sandbox: bubblewrap (${choice.reason}): own user, PID, IPC and UTS namespaces${
        choice.user ? ` as ${choice.user.name} (uid ${choice.user.uid})` : ''
      }, a fresh /proc, /tmp and HOME, the workspace read-write, ${systemPaths.join(' ')} read-only, nothing else of the filesystem; network shared`,
      command: (command, cwd, env) =>
        bwrapPlan(choice.bwrap!, { scratch, workdir, user: choice.user }, command, cwd, base(env)),
      prepare,
      close,
    };
  }
  if (choice.kind === 'user') {
    const user = choice.user!;
    return {
      choice,
      session,
      summary: `stepline: sandbox: user ${user.name} (uid ${user.uid}, ${choice.reason}): the commands cannot read the runner's environment or its owner-only files (the data directory), but see the process list and every world-readable file; network shared`,
      command: (command, cwd, env) => ({
        file: '/bin/sh',
        args: ['-c', command],
        cwd,
        env: {
          ...base(env),
          HOME: join(scratch, 'home'),
          TMPDIR: join(scratch, 'tmp'),
          USER: user.name,
          LOGNAME: user.name,
        },
        uid: user.uid,
        gid: user.gid,
      }),
      prepare,
      close,
    };
  }
  const me = currentUser();
  return {
    choice,
    session,
    summary: `stepline: sandbox: none (${choice.reason})`,
    warning: [
      `THE COMMANDS ARE NOT SANDBOXED (${choice.reason}).`,
      `They run as ${me}, the runner's own user, and can read: the runner's environment through /proc/${process.pid}/environ`,
      "(the task token, AWS credentials or the local runtime's credentials and endpoints); every process of this user",
      "and its environment (locally `stepline serve`'s, with its webhook secret); every file this user can read",
      '(locally the data directory: credentials, stored objects, executions). They can report a forged result for this',
      'stage and write any cache of this repository. A process that leaves its session and clears its environment can',
      'outlive the stage. Install bubblewrap (apt-get install bubblewrap) or run the runner as root to sandbox them.',
    ].join(' '),
    command: (command, cwd, env) => ({ file: '/bin/sh', args: ['-c', command], cwd, env: base(env) }),
    prepare,
    close,
  };
}

/**
 * `bwrap … /bin/sh -c command`: own user, PID, IPC and UTS (and cgroup, when possible)
 * namespaces, a new session (no TIOCSTI into the runner's terminal), killed with its parent;
 * the system directories read-only, the workspace read-write at its own path, /tmp and HOME from
 * the stage's scratch directory, a fresh /proc and a minimal /dev. Nothing else of the host's
 * filesystem (home directories, the local data directory, /proc of other processes) exists in it.
 */
export function bwrapPlan(
  bwrap: string,
  dirs: { scratch: string; workdir: string; user: BuildUser | undefined },
  command: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): SpawnPlan {
  const args = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--new-session',
  ];
  const bound: string[] = [];
  for (const path of systemPaths) {
    const stat = lstatOrUndefined(path);
    if (stat?.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else if (stat?.isDirectory()) {
      args.push('--ro-bind', path, path);
      bound.push(path);
    }
  }
  const covered = (path: string) => bound.some((dir) => path === dir || path.startsWith(`${dir}/`));
  // The node running the runner and the PATH's tools, when they live outside the system
  // directories (nvm, /opt) and the build user may reach them.
  const extra = new Set<string>([dirname(dirname(realpathOr(process.execPath)))]);
  for (const dir of (env.PATH ?? '').split(':')) if (isAbsolute(dir)) extra.add(realpathOr(dir));
  for (const dir of extra) {
    if (covered(dir) || dir === '/' || !isDirectory(dir) || !reachableBy(dir, dirs.user)) continue;
    if (dir === dirs.workdir || dir.startsWith(`${dirs.workdir}/`)) continue;
    args.push('--ro-bind', dir, dir);
  }
  const resolv = realpathOr('/etc/resolv.conf');
  if (!covered(resolv) && existsSync(resolv)) args.push('--ro-bind', resolv, resolv);
  args.push(
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--bind',
    join(dirs.scratch, 'tmp'),
    '/tmp',
    '--bind',
    join(dirs.scratch, 'home'),
    sandboxHome,
    '--bind',
    dirs.workdir,
    dirs.workdir,
    '--chdir',
    cwd,
    '--',
    '/bin/sh',
    '-c',
    command,
  );
  return {
    file: bwrap,
    args,
    cwd,
    env: { ...env, HOME: sandboxHome, TMPDIR: '/tmp' },
    ...(dirs.user ? { uid: dirs.user.uid, gid: dirs.user.gid } : {}),
  };
}

/** `<tmp>/stepline-sandbox-*` with `tmp/` and `home/`, owned by the build user when there is one. */
async function makeScratch(user: BuildUser | undefined): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), 'stepline-sandbox-'));
  for (const dir of ['tmp', 'home']) await mkdir(join(scratch, dir), { mode: 0o700 });
  if (user) for (const dir of ['', 'tmp', 'home']) await chown(join(scratch, dir), user.uid, user.gid);
  await chmod(scratch, 0o700);
  return scratch;
}

function chownTree(dir: string, user: BuildUser): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('chown', ['-hR', `${user.uid}:${user.gid}`, dir], (error, _stdout, stderr) =>
      error
        ? reject(
            new TaskInputError(`cannot give the workdir ${dir} to ${user.name}: ${String(stderr).trim()}`),
          )
        : resolve(),
    );
  });
}

/** Whether every directory from / down to `dir` lets `user` (or, without one, anyone) search it. */
function reachableBy(dir: string, user: BuildUser | undefined): boolean {
  if (!user) return true;
  let path = dir;
  for (;;) {
    try {
      const stat = statSync(path);
      const ok =
        stat.uid === user.uid
          ? stat.mode & 0o100
          : stat.gid === user.gid
            ? stat.mode & 0o010
            : stat.mode & 0o001;
      if (!ok) return false;
    } catch {
      return false;
    }
    if (path === '/') return true;
    path = dirname(path);
  }
}

function currentUser(): string {
  try {
    const info = userInfo();
    return `${info.username} (uid ${info.uid})`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
