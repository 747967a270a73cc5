import { readdirSync, readFileSync } from 'node:fs';

/**
 * Every command a runner starts carries `STEPLINE_BUILD_SESSION=<runner pid>.<runner start time>`
 * in its environment. A process keeps its initial environment in `/proc/<pid>/environ` through
 * `setsid`, double forks and re-parenting, so the runner (at the end of a stage) and the local ECS
 * (after a runner died, even of SIGKILL) find and kill what the commands left behind, wherever it
 * was re-parented to. A process that execs itself with a cleared environment escapes this sweep;
 * only the PID namespace of the bubblewrap sandbox catches that (see docs/runner.md#sandbox).
 */
export const buildSessionVariable = 'STEPLINE_BUILD_SESSION';

/** The marker of the commands of the process `pid`: `<pid>.<start time in clock ticks>`, or undefined when it is gone. */
export function buildSessionOf(pid: number): string | undefined {
  const start = processStartTime(pid);
  return start === undefined ? undefined : `${pid}.${start}`;
}

function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 22 (starttime), counted after the command name, which may itself hold spaces and parens.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/**
 * Pids (other than this process) whose initial environment holds `STEPLINE_BUILD_SESSION=<session>`
 * or a session within it (`<session>.<stage>`): a runner's session covers all of its stages.
 */
export function processesOfSession(session: string): number[] {
  const exact = Buffer.from(`\0${buildSessionVariable}=${session}\0`);
  const within = Buffer.from(`\0${buildSessionVariable}=${session}.`);
  const nul = Buffer.from('\0');
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // gone, or another user's process this one may not read
    }
    const padded = Buffer.concat([nul, environ, nul]);
    if (padded.includes(exact) || padded.includes(within)) found.push(pid);
  }
  return found;
}

/**
 * SIGKILLs every process of the session, again and again until none is left (a process may fork
 * while the sweep runs), at most `rounds` times. Returns how many kills were sent.
 */
export function killSession(session: string, rounds = 20): number {
  let killed = 0;
  for (let round = 0; round < rounds; round++) {
    const pids = processesOfSession(session);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed += 1;
      } catch {
        // ESRCH: already gone; EPERM: not ours to kill (another user's process with our marker)
      }
    }
  }
  return killed;
}
