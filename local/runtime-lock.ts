import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '#local/config.ts';
import { isProcessAlive } from '#local/process.ts';

/** Where the runtime that owns a data directory names itself: `<dataDir>/runtime.lock`, its pid. */
export const runtimeLockFile = (dataDir: string) => join(dataDir, 'runtime.lock');

/** A second runtime on a data directory that another live runtime holds. */
export class RuntimeLockedError extends UsageError {
  override name = 'RuntimeLockedError';
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(
      `the data directory ${dataDir} is in use by another stepline runtime (pid ${holderPid}` +
        `${holderPid === process.pid ? ', this process' : ''}); stop it first or use another --data ` +
        '(`stepline run` delivers to a running `stepline serve` of the same --data by itself)',
    );
  }
}

function holderOf(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the data directory for one runtime: creates `runtime.lock` holding this pid, atomically
 * (a complete temp file hard-linked into place, so no reader sees it empty). A lock whose pid is gone
 * (a runtime killed with -9) is stale and taken over. Throws `RuntimeLockedError` naming the live
 * holder otherwise. Returns the release, which removes the lock if it is still this process's.
 */
export function acquireRuntimeLock(dataDir: string): () => void {
  const path = runtimeLockFile(dataDir);
  for (let attempt = 0; ; attempt++) {
    const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(temp, `${process.pid}\n`, { mode: 0o600 });
    try {
      linkSync(temp, path);
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        if (holderOf(path) === process.pid) rmSync(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temp, { force: true });
    }
    const holder = holderOf(path);
    if (holder !== undefined && isProcessAlive(holder)) throw new RuntimeLockedError(dataDir, holder);
    if (attempt >= 3) throw new Error(`cannot take ${path}: it keeps reappearing`);
    // Stale (its runtime is gone) or unreadable: take it over.
    rmSync(path, { force: true });
  }
}
