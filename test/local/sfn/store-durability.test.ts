import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  appendHistoryEvent,
  executionsDir,
  type StoredExecution,
  writeStoredExecution,
} from '#local/sfn/store.ts';
import { tempDataDir } from './helpers.ts';

vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return { ...actual, fsyncSync: vi.fn(actual.fsyncSync) };
});

const fsyncSync = vi.mocked(fs.fsyncSync);

/** The paths of the files fsynced so far (through /proc/self/fd, read while they are still open). */
const synced: string[] = [];
beforeEach(async () => {
  synced.length = 0;
  const actual = await vi.importActual<typeof import('node:fs')>('node:fs');
  fsyncSync.mockImplementation((fd) => {
    synced.push(actual.readlinkSync(`/proc/self/fd/${fd}`));
    actual.fsyncSync(fd);
  });
});

const record: StoredExecution = {
  name: 'durable',
  executionArn: 'arn:aws:states:local:000000000000:execution:test-machine:durable',
  stateMachineArn: 'arn:aws:states:local:000000000000:stateMachine:test-machine',
  status: 'SUCCEEDED',
  input: '{}',
  output: '{}',
  startDate: '2030-01-01T00:00:00.000Z',
  stopDate: '2030-01-01T00:00:01.000Z',
  ownerPid: process.pid,
  ownerId: 'x',
};

describe('the execution store on power loss', () => {
  it('fsyncs a record before renaming it into place, then its directory', () => {
    const dataDir = tempDataDir();

    writeStoredExecution(dataDir, record);

    expect(synced).toHaveLength(2);
    expect(synced[0]).toMatch(/durable\.json\.\d+\.\w+\.tmp$/);
    expect(synced[1]).toBe(fs.realpathSync(executionsDir(dataDir)));
    expect(JSON.parse(fs.readFileSync(join(executionsDir(dataDir), 'durable.json'), 'utf8'))).toEqual(record);
  });

  it('fsyncs the start and the end of an execution in its history, not every state event', () => {
    const dataDir = tempDataDir();
    const history = fs.realpathSync(dataDir);
    const event = (id: number, type: 'ExecutionStarted' | 'PassStateEntered' | 'ExecutionSucceeded') => ({
      id,
      previousEventId: id - 1,
      timestamp: new Date(),
      type,
    });

    appendHistoryEvent(dataDir, 'durable', event(1, 'ExecutionStarted'));
    appendHistoryEvent(dataDir, 'durable', event(2, 'PassStateEntered'));
    appendHistoryEvent(dataDir, 'durable', event(3, 'ExecutionSucceeded'));

    expect(synced).toEqual([
      join(history, 'executions', 'durable.history.jsonl'),
      join(history, 'executions', 'durable.history.jsonl'),
    ]);
  });
});
