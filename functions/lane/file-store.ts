import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileDurably } from '#shared/durable-file.ts';
import type { LaneEntry, LaneStore, StoredLane } from './lane-store.ts';

/**
 * The lanes of the local runtime (`LANE_STORE=local`): one JSON file per lane under
 * `<dataDir>/lanes/`, and one per execution that entered a lane under `<dataDir>/lanes/executions/`.
 * The table's conditional write becomes a version check and a write made while holding the lane's
 * lock file (`<lane>.lock`, created with O_EXCL): the local Lambda stand-in runs invocations in
 * several worker threads, and one runtime holds a data directory (runtime.lock), so the lock file
 * orders every writer. Each write is a temporary file, fsynced and renamed, so a crash leaves the old
 * lane or the new one, never half of one.
 */
export function fileLaneStore(dataDir: string): LaneStore {
  const dir = join(dataDir, 'lanes');
  const executionsDir = join(dir, 'executions');
  mkdirSync(executionsDir, { recursive: true, mode: 0o700 });
  const laneFile = (key: string) => join(dir, `${hash(key)}.json`);
  const pointerFile = (executionArn: string) => join(executionsDir, `${hash(executionArn)}.json`);

  const readLane = (key: string): StoredLane => {
    const stored = readJson(laneFile(key)) as { version?: number; entries?: LaneEntry[] } | undefined;
    return { version: stored?.version ?? 0, entries: stored?.entries ?? [] };
  };

  return {
    async read(key) {
      return readLane(key);
    },
    async write(key, entries, expectedVersion) {
      return withLock(`${laneFile(key)}.lock`, () => {
        if (readLane(key).version !== expectedVersion) return false;
        if (entries.length === 0) rmSync(laneFile(key), { force: true });
        else writeFileDurably(laneFile(key), json({ key, version: expectedVersion + 1, entries }));
        return true;
      });
    },
    async rememberLane(executionArn, key, expiresAt) {
      writeFileDurably(pointerFile(executionArn), json({ executionArn, lane: key, expiresAt }));
    },
    async laneOf(executionArn) {
      const pointer = readJson(pointerFile(executionArn)) as { lane?: string } | undefined;
      return pointer?.lane;
    },
    async forgetLane(executionArn) {
      rmSync(pointerFile(executionArn), { force: true });
    },
  };
}

/**
 * The executions that `rememberLane` recorded under `dataDir` and that have not left their lane: what
 * the local runtime checks at start for executions a stop of the runtime ended without a release.
 */
export function executionsInLanes(dataDir: string): string[] {
  const executionsDir = join(dataDir, 'lanes', 'executions');
  let names: string[];
  try {
    names = readdirSync(executionsDir).filter((name) => name.endsWith('.json'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const arns: string[] = [];
  for (const name of names) {
    try {
      const pointer = readJson(join(executionsDir, name)) as { executionArn?: unknown } | undefined;
      if (typeof pointer?.executionArn === 'string') arns.push(pointer.executionArn);
    } catch {
      // A pointer cut short by a crash: its lane entry expires on its own.
    }
  }
  return arns;
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

const json = (value: unknown) => `${JSON.stringify(value)}\n`;

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as unknown;
}

/** A lock older than this was left by a thread that died holding it (the section it guards takes milliseconds). */
const staleLockMs = 10_000;

/** Runs `section` (synchronous) while holding the lock file `path`. */
async function withLock<T>(path: string, section: () => T): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(path).mtimeMs > staleLockMs) rmSync(path, { force: true });
      } catch {
        // Released meanwhile.
      }
      await sleep(Math.min(2 + attempt, 20));
      continue;
    }
    try {
      return section();
    } finally {
      closeSync(fd);
      rmSync(path, { force: true });
    }
  }
}
