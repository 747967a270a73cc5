import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { LaneEntry, LaneStore, StoredLane } from '#functions/lane/lane-store.ts';

/**
 * The lanes of the local runtime: one JSON file per lane under `<dataDir>/lanes/`, and one per
 * execution that entered a lane under `<dataDir>/lanes/executions/`. The table's conditional writes
 * become a version check and write done without an `await` in between: one runtime holds a data
 * directory (runtime.lock) and Node runs its callbacks one at a time, so nothing can write between the
 * check and the write. Each write is a temporary file, fsynced and renamed, so a crash leaves the old
 * lane or the new one, never half of one.
 */
export function localLaneStore(dataDir: string): LaneStore {
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
      if (readLane(key).version !== expectedVersion) return false;
      if (entries.length === 0) rmSync(laneFile(key), { force: true });
      else writeDurably(laneFile(key), { key, version: expectedVersion + 1, entries });
      return true;
    },
    async rememberLane(executionArn, key, expiresAt) {
      writeDurably(pointerFile(executionArn), { executionArn, lane: key, expiresAt });
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

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

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

function writeDurably(path: string, value: unknown): void {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(value)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}
