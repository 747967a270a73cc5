import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, posix } from 'node:path';
import type { PreparedImage } from './images.ts';

/**
 * How the local ECS runs a service's containers.
 * - `bwrap`: process mode in bubblewrap, the image's root bound as `/`, its own PID namespace.
 * - `host`: process mode without a sandbox: the command is resolved inside the root and run on the
 *   host with the root's working directory (used when bubblewrap cannot run here).
 * - `podman`: container mode, `podman run` of the same image (only when asked for).
 */
export type Isolation = 'bwrap' | 'host' | 'podman';

export interface ContainerSpec {
  /** Names the podman container; goes into logs. */
  taskId: string;
  /** The image reference (podman pulls it) and, in process mode, its unpacked root. */
  image: PreparedImage;
  /** Entrypoint followed by command. */
  argv: string[];
  env: Record<string, string>;
  /** Absolute path inside the image. */
  workdir: string;
  logPath: string;
  /** Container mode: the local ECS's podman storage. */
  podmanStorage?: string;
  /** Container mode: the auth file podman pulls with (the local registry needs its token). */
  registryAuthFile?: string;
}

export interface ContainerExit {
  code: number | null;
  signal: string | null;
}

export interface RunningContainer {
  readonly isolation: Isolation;
  readonly pid: number | undefined;
  /** Settles when the container's main process has ended and its output is in the log. */
  readonly exited: Promise<ContainerExit>;
  /** Runs a health-check command in the container's environment: its exit code, or null on timeout. */
  exec(argv: string[], timeoutMs: number): Promise<number | null>;
  /** SIGTERM to the container's processes, SIGKILL after `graceSeconds`; resolves once it has exited. */
  stop(graceSeconds: number): Promise<ContainerExit>;
}

let bwrapProbe: string | null | undefined;

/** The path of a bubblewrap that can make a sandbox on this machine, or null. */
export function usableBwrap(): string | null {
  if (bwrapProbe !== undefined) return bwrapProbe;
  const path = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'].find((p) => existsSync(p));
  if (!path) {
    bwrapProbe = null;
    return null;
  }
  const probe = spawnSync(
    path,
    ['--bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--unshare-pid', '--die-with-parent', 'true'],
    { stdio: 'ignore', timeout: 10_000 },
  );
  bwrapProbe = probe.status === 0 ? path : null;
  return bwrapProbe;
}

/** Global podman flags this kind of machine needs (no systemd, no overlay, no cgroup delegation). */
const podmanMachineFlags = [
  '--runtime',
  'runc',
  '--cgroup-manager',
  'cgroupfs',
  '--storage-driver',
  'vfs',
  '--events-backend',
  'file',
];
const podmanRunFlags = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096'];

/**
 * Global podman flags: this machine's, and a storage of the local ECS's own (`storageDir`), so
 * its images and containers neither meet nor disturb the user's podman storage.
 */
export function podmanGlobalFlags(storageDir: string): string[] {
  return [...podmanMachineFlags, '--root', join(storageDir, 'storage'), '--runroot', join(storageDir, 'run')];
}

let podmanProbe: boolean | undefined;

/** Whether `podman` can run a container here (checked once, by running `podman info`). */
export function usablePodman(): boolean {
  if (podmanProbe !== undefined) return podmanProbe;
  const storage = mkdtempSync(join(tmpdir(), 'stepline-podman-probe-'));
  const probe = spawnSync(
    'podman',
    [...podmanGlobalFlags(storage), 'info', '--format', '{{.Host.OCIRuntime.Name}}'],
    {
      stdio: 'ignore',
      timeout: 30_000,
    },
  );
  rmSync(storage, { recursive: true, force: true });
  podmanProbe = probe.status === 0;
  return podmanProbe;
}

/** Processes below `pid` (children first seen first), from /proc. */
function descendants(pid: number): { pid: number; comm: string }[] {
  const all: { pid: number; ppid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      all.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        comm: stat.slice(stat.indexOf('(') + 1, close),
      });
    } catch {
      // The process ended while we looked.
    }
  }
  const found: { pid: number; comm: string }[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of all) {
      if (p.ppid !== parent) continue;
      found.push(p);
      queue.push(p.pid);
    }
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

function resolveInImage(root: string, command: string, path: string): string | undefined {
  if (command.includes('/')) {
    const candidate = join(root, posix.isAbsolute(command) ? command : posix.join('/', command));
    return existsSync(candidate) ? candidate : undefined;
  }
  for (const dir of path.split(':').filter(Boolean)) {
    const candidate = join(root, dir, command);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The argv and cwd to run `argv` of an image on the host (no sandbox). */
function hostCommand(spec: Pick<ContainerSpec, 'image' | 'env' | 'workdir'>, argv: string[]) {
  const root = spec.image.root;
  const [command, ...args] = argv;
  if (!command)
    throw new Error(
      'the container has no command: the image has no Entrypoint or Cmd and the task definition none',
    );
  const resolved = resolveInImage(root, command, spec.env.PATH ?? defaultPath);
  if (!resolved) throw new Error(`exec: "${command}": executable file not found in the image's $PATH`);
  // Absolute paths that exist in the image are its files, not the host's.
  const mapped = args.map((arg) => (isAbsolute(arg) && existsSync(join(root, arg)) ? join(root, arg) : arg));
  const cwd = join(root, spec.workdir);
  return { file: resolved, args: mapped, cwd: existsSync(cwd) ? cwd : root };
}

function bwrapArgs(bwrap: string, spec: Pick<ContainerSpec, 'image' | 'workdir'>, argv: string[]) {
  return {
    file: bwrap,
    args: [
      '--bind',
      spec.image.root,
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      '--ro-bind-try',
      '/etc/hosts',
      '/etc/hosts',
      '--ro-bind-try',
      '/etc/resolv.conf',
      '/etc/resolv.conf',
      '--unshare-pid',
      '--die-with-parent',
      '--chdir',
      spec.workdir,
      '--',
      ...argv,
    ],
  };
}

function podmanArgs(spec: ContainerSpec, name: string, argv: string[]): string[] {
  const [entrypoint, ...command] = argv;
  return [
    ...podmanGlobalFlags(spec.podmanStorage ?? join(tmpdir(), 'stepline-podman')),
    'run',
    '--rm',
    '--name',
    name,
    '--network',
    'host',
    '--pull',
    'missing',
    '--tls-verify=false',
    ...(spec.registryAuthFile ? ['--authfile', spec.registryAuthFile] : []),
    ...podmanRunFlags,
    '--workdir',
    spec.workdir,
    ...Object.entries(spec.env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    ...(entrypoint ? ['--entrypoint', JSON.stringify([entrypoint])] : []),
    spec.image.reference,
    ...command,
  ];
}

/**
 * Starts a container's main process with its output appended to `spec.logPath`. Throws when it
 * cannot start (the command is not in the image); an exit after the start settles `exited`.
 */
export async function startContainer(spec: ContainerSpec, isolation: Isolation): Promise<RunningContainer> {
  await mkdir(dirname(spec.logPath), { recursive: true });
  const log = createWriteStream(spec.logPath, { flags: 'a' });
  const podmanName = `stepline-${spec.taskId}`;
  const podmanFlags = podmanGlobalFlags(spec.podmanStorage ?? join(tmpdir(), 'stepline-podman'));
  let launch: { file: string; args: string[]; cwd?: string };
  if (isolation === 'bwrap') launch = bwrapArgs(usableBwrap() ?? 'bwrap', spec, spec.argv);
  else if (isolation === 'podman') launch = { file: 'podman', args: podmanArgs(spec, podmanName, spec.argv) };
  else launch = hostCommand(spec, spec.argv);
  const child = spawn(launch.file, launch.args, {
    env:
      isolation === 'podman'
        ? { PATH: process.env.PATH ?? defaultPath, HOME: process.env.HOME ?? '/root' }
        : spec.env,
    ...(launch.cwd ? { cwd: launch.cwd } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => {
      log.end();
      reject(error);
    });
  });
  const exited = new Promise<ContainerExit>((resolve) => {
    child.once('close', (code, sig) => {
      log.end(() => resolve({ code, signal: sig }));
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const pid = child.pid;
  return {
    isolation,
    pid,
    exited,
    exec: (argv, timeoutMs) => {
      let run: { file: string; args: string[]; cwd?: string };
      try {
        if (isolation === 'bwrap') run = bwrapArgs(usableBwrap() ?? 'bwrap', spec, argv);
        else if (isolation === 'podman')
          run = { file: 'podman', args: [...podmanFlags, 'exec', podmanName, ...argv] };
        else run = hostCommand(spec, argv);
      } catch {
        return Promise.resolve(127);
      }
      return new Promise((resolve) => {
        const probe = execFile(
          run.file,
          run.args,
          {
            env: isolation === 'podman' ? { PATH: process.env.PATH ?? defaultPath } : spec.env,
            ...(run.cwd ? { cwd: run.cwd } : {}),
            timeout: timeoutMs,
            killSignal: 'SIGKILL',
          },
          (error) => {
            if (!error) return resolve(0);
            if ((error as { killed?: boolean }).killed) return resolve(null);
            const code = (error as { code?: unknown }).code;
            resolve(typeof code === 'number' ? code : 1);
          },
        );
        probe.stdin?.end();
      });
    },
    stop: async (graceSeconds) => {
      if (done || pid === undefined) return exited;
      if (isolation === 'podman') {
        execFile('podman', [...podmanFlags, 'stop', '--time', String(graceSeconds), podmanName], () => {});
      } else if (isolation === 'bwrap') {
        // bubblewrap would answer SIGTERM by dying and taking the app down with SIGKILL: signal the app.
        const inside = descendants(pid).filter((p) => p.comm !== 'bwrap');
        for (const p of inside) signal(p.pid, 'SIGTERM');
        if (inside.length === 0) signal(-pid, 'SIGTERM');
      } else {
        signal(-pid, 'SIGTERM');
      }
      const timer = setTimeout(() => signal(-pid, 'SIGKILL'), graceSeconds * 1000 + 100);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };
}
