import { spawnSync } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendHistoryEvent,
  executionsDir,
  listStoredExecutions,
  readHistory,
  readStoredExecution,
  type StoredExecution,
  writeStoredExecution,
} from '#local/sfn/store.ts';
import { createEngine, tempDataDir, tokenMachine, tokenRecorder, tokenResource } from './helpers.ts';

const passMachine = { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } };

function runningRecord(name: string, owner: { pid: number; id: string }): StoredExecution {
  return {
    name,
    executionArn: `arn:aws:states:local:000000000000:execution:test-machine:${name}`,
    stateMachineArn: 'arn:aws:states:local:000000000000:stateMachine:test-machine',
    status: 'RUNNING',
    input: '{}',
    startDate: '2030-01-01T00:00:00.000Z',
    ownerPid: owner.pid,
    ownerId: owner.id,
  };
}

function leaveRunning(dataDir: string, name: string, owner: { pid: number; id: string }): void {
  writeStoredExecution(dataDir, runningRecord(name, owner));
  appendHistoryEvent(dataDir, name, {
    id: 1,
    previousEventId: 0,
    timestamp: new Date('2030-01-01T00:00:00.000Z'),
    type: 'ExecutionStarted',
    executionStartedEventDetails: { input: '{}' },
  });
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid ?? 0;
}

describe('execution store', () => {
  it('lets a reader with only the data directory list, describe and read the history of executions', async () => {
    const runner = tokenRecorder();
    const engine = createEngine(tokenMachine(), { [tokenResource]: runner.handler });
    const first = await engine.startExecution({ name: 'first', input: '{"value":1}' });
    engine.sendTaskSuccess((await runner.next()).token, '{}');
    await engine.waitForExecution(first.executionArn);
    await engine.startExecution({ name: 'second', input: '{"value":2}' });

    const listed = listStoredExecutions(engine.dataDir);
    const record = readStoredExecution(engine.dataDir, 'first');
    const history = readHistory(engine.dataDir, 'first');

    expect(listed.map((e) => [e.name, e.status])).toEqual([
      ['second', 'RUNNING'],
      ['first', 'SUCCEEDED'],
    ]);
    expect(record).toMatchObject({ status: 'SUCCEEDED', input: '{"value":1}', ownerPid: process.pid });
    expect(history[0]).toMatchObject({ id: 1, previousEventId: 0, type: 'ExecutionStarted' });
    expect(history[0]?.timestamp).toBeInstanceOf(Date);
    expect(history.at(-1)?.type).toBe('ExecutionSucceeded');
  });

  it('skips a last history line that is still being written', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'partial', { pid: process.pid, id: 'x' });
    appendFileSync(join(executionsDir(dataDir), 'partial.history.jsonl'), '{"id":2,"previousEv');

    expect(readHistory(dataDir, 'partial').map((e) => e.type)).toEqual(['ExecutionStarted']);
  });

  it('answers undefined and an empty history for an execution it does not hold', () => {
    const dataDir = tempDataDir();

    expect(readStoredExecution(dataDir, 'missing')).toBeUndefined();
    expect(readHistory(dataDir, 'missing')).toEqual([]);
    expect(listStoredExecutions(dataDir)).toEqual([]);
  });
});

describe('recovery of executions left RUNNING', () => {
  it('marks FAILED with Stepline.RuntimeStopped an execution whose owner process is gone, keeping its history', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'orphan', { pid: deadPid(), id: 'gone' });

    createEngine(passMachine, {}, { dataDir });
    const record = readStoredExecution(dataDir, 'orphan');
    const history = readHistory(dataDir, 'orphan');

    expect(record).toMatchObject({ status: 'FAILED', error: 'Stepline.RuntimeStopped' });
    expect(record?.cause).toContain('stopped while this execution was running');
    expect(record?.stopDate).toBeDefined();
    expect(history.map((e) => [e.id, e.type])).toEqual([
      [1, 'ExecutionStarted'],
      [2, 'ExecutionFailed'],
    ]);
    expect(history[1]?.executionFailedEventDetails?.error).toBe('Stepline.RuntimeStopped');
  });

  it('marks FAILED an execution of an earlier engine in this same process', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'earlier-life', { pid: process.pid, id: 'an-engine-that-no-longer-exists' });

    createEngine(passMachine, {}, { dataDir });

    expect(readStoredExecution(dataDir, 'earlier-life')?.status).toBe('FAILED');
  });

  it('leaves alone an execution whose owner is another live process', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'elsewhere', { pid: process.ppid, id: 'another-runtime' });

    createEngine(passMachine, {}, { dataDir });

    expect(readStoredExecution(dataDir, 'elsewhere')?.status).toBe('RUNNING');
  });

  it('leaves alone the running executions of another live engine on the same data directory', async () => {
    const dataDir = tempDataDir();
    const first = createEngine(tokenMachine(), { [tokenResource]: tokenRecorder().handler }, { dataDir });
    const { executionArn } = await first.startExecution({ input: '{"value":1}' });

    createEngine(passMachine, {}, { dataDir });

    expect(first.describeExecution(executionArn).status).toBe('RUNNING');
  });
});
