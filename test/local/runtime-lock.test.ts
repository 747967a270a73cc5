import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDataDir } from '#local/runtime.ts';
import { RuntimeLockedError, runtimeLockFile } from '#local/runtime-lock.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stepline-lock-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function open(dataDir: string): Promise<() => void> {
  const release = await openDataDir(dataDir);
  cleanups.push(release);
  return release;
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid ?? 0;
}

describe('one runtime per data directory', () => {
  it('makes a data directory that already exists owner-only', async () => {
    const dataDir = tempDir();
    chmodSync(dataDir, 0o755);

    await open(dataDir);

    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
  });

  it('creates a missing data directory owner-only and names this process in its lock', async () => {
    const dataDir = join(tempDir(), 'data');

    await open(dataDir);

    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(runtimeLockFile(dataDir), 'utf8').trim()).toBe(String(process.pid));
  });

  it('refuses a second runtime while the first holds the data directory, naming its pid', async () => {
    const dataDir = tempDir();
    await open(dataDir);

    const second = openDataDir(dataDir);

    await expect(second).rejects.toThrow(RuntimeLockedError);
    await expect(second).rejects.toThrow(`pid ${process.pid}`);
  });

  it('refuses a data directory held by another live process', async () => {
    const dataDir = tempDir();
    writeFileSync(runtimeLockFile(dataDir), `${process.ppid}\n`);

    await expect(openDataDir(dataDir)).rejects.toThrow(
      new RegExp(`in use by another stepline runtime \\(pid ${process.ppid}\\)`),
    );
  });

  it('takes over the lock of a runtime that is gone (killed with -9)', async () => {
    const dataDir = tempDir();
    writeFileSync(runtimeLockFile(dataDir), `${deadPid()}\n`);

    await open(dataDir);

    expect(readFileSync(runtimeLockFile(dataDir), 'utf8').trim()).toBe(String(process.pid));
  });

  it('releases the data directory on close, for the next runtime', async () => {
    const dataDir = tempDir();
    const release = await open(dataDir);

    release();

    expect(existsSync(runtimeLockFile(dataDir))).toBe(false);
    await expect(open(dataDir)).resolves.toBeTypeOf('function');
  });
});
