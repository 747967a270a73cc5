import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { StageSandbox } from './sandbox.ts';
import { killSession } from './sandbox-processes.ts';

/** Process groups of commands still possibly alive; every one is killed when the stage ends. */
const liveGroups = new Set<number>();
/** Build sessions (sandbox-processes.ts) whose processes are killed when the stage ends. */
const liveSessions = new Set<string>();

export interface CommandOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Milliseconds left before the stage's deadline. */
  timeoutMs: number;
  onLine: (line: string) => void;
  /** Aborting kills the command's process group and rejects with the signal's reason. */
  signal: AbortSignal;
  /** The stage's sandbox (sandbox.ts); without one the command runs as the runner, unconfined. */
  sandbox?: StageSandbox;
}

export interface CommandExit {
  /** The exit code, or 128 + the signal number when a signal ended it. */
  exitCode: number;
  timedOut: boolean;
}

/** How long output is still read after the shell exits, before a background process holding the pipe is left to run. */
const drainMs = 2000;
const maxLine = 16 * 1024;

/**
 * Runs `sh -c command` (through the stage's sandbox when given) in its own process group and
 * streams its output line by line. On timeout or abort the whole group is killed (a command's
 * children included), not just the shell; in bubblewrap that ends the command's PID namespace,
 * whatever left the group.
 */
export function runCommand(command: string, options: CommandOptions): Promise<CommandExit> {
  const { promise, resolve, reject } = withResolvers<CommandExit>();
  if (options.signal.aborted) {
    reject(options.signal.reason);
    return promise;
  }
  const plan = options.sandbox?.command(command, options.cwd, options.env) ?? {
    file: 'sh',
    args: ['-c', command],
    cwd: options.cwd,
    env: options.env,
  };
  if (options.sandbox) liveSessions.add(options.sandbox.session);
  const child = spawn(plan.file, plan.args, {
    cwd: plan.cwd,
    env: plan.env,
    ...(plan.uid !== undefined ? { uid: plan.uid } : {}),
    ...(plan.gid !== undefined ? { gid: plan.gid } : {}),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid !== undefined) liveGroups.add(pid);
  let timedOut = false;
  let exited: CommandExit | undefined;
  const finish = () => {
    clearTimeout(timer);
    clearTimeout(drain);
    options.signal.removeEventListener('abort', onAbort);
    if (options.signal.aborted) reject(options.signal.reason);
    else if (exited) resolve(exited);
  };
  const timer = setTimeout(
    () => {
      timedOut = true;
      killGroup(pid);
    },
    Math.max(0, options.timeoutMs),
  );
  let drain: NodeJS.Timeout | undefined;
  const onAbort = () => killGroup(pid);
  options.signal.addEventListener('abort', onAbort, { once: true });
  readLines(child.stdout, options.onLine);
  readLines(child.stderr, options.onLine);
  child.once('error', (error) => {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
    reject(error);
  });
  child.once('exit', (code, signal) => {
    exited = {
      exitCode: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0),
      timedOut,
    };
    // Wait for the pipes to drain, but not for a background process that inherited them.
    drain = setTimeout(finish, drainMs);
  });
  child.once('close', finish);
  return promise;
}

/**
 * SIGKILLs every process group this module started, then every process still carrying one of
 * their build sessions (a `setsid` or double-forked process left its group, not its environment).
 * Safe to call more than once and from `process.on('exit')`.
 */
export function killAllProcessGroups(): void {
  for (const pid of liveGroups) killGroup(pid);
  liveGroups.clear();
  for (const session of liveSessions) killSession(session);
  liveSessions.clear();
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

function readLines(stream: Readable, onLine: (line: string) => void): void {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const emit = (text: string) => {
    for (let i = 0; i < text.length; i += maxLine) onLine(text.slice(i, i + maxLine));
  };
  stream.on('data', (chunk: Buffer) => {
    pending += decoder.write(chunk);
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) emit(line.endsWith('\r') ? line.slice(0, -1) : line);
    if (pending.length > maxLine) {
      emit(pending);
      pending = '';
    }
  });
  stream.on('end', () => {
    pending += decoder.end();
    if (pending !== '') emit(pending);
    pending = '';
  });
}

function withResolvers<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
