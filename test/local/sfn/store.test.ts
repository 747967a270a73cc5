import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { listExecutions, showExecution } from '#local/commands/executions.ts';
import {
  appendHistoryEvent,
  ensureStore,
  executionsDir,
  listStoredExecutions,
  readHistory,
  readStoredExecution,
  type StoredExecution,
  writeStoredExecution,
} from '#local/sfn/store.ts';
import {
  createEngine,
  passLogger,
  tempDataDir,
  tokenMachine,
  tokenRecorder,
  tokenResource,
} from './helpers.ts';

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

const historyFile = (dataDir: string, name: string) => join(executionsDir(dataDir), `${name}.history.jsonl`);

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

describe('the store after a crash', () => {
  it('cuts off a torn last history line before recovery appends ExecutionFailed, so every line parses', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'torn', { pid: deadPid(), id: 'killed' });
    // kill -9 in the middle of appending event 2.
    appendFileSync(historyFile(dataDir, 'torn'), '{"id":2,"previousEventId":1,"timest');

    const engine = createEngine(passMachine, {}, { dataDir });
    const lines = readFileSync(historyFile(dataDir, 'torn'), 'utf8').trimEnd().split('\n');

    expect(lines.map((line) => JSON.parse(line).type)).toEqual(['ExecutionStarted', 'ExecutionFailed']);
    expect(readHistory(dataDir, 'torn').map((e) => [e.id, e.type])).toEqual([
      [1, 'ExecutionStarted'],
      [2, 'ExecutionFailed'],
    ]);
    expect(engine.getExecutionHistory(engine.executionArnOf('torn')).events.map((e) => e.type)).toEqual([
      'ExecutionStarted',
      'ExecutionFailed',
    ]);
  });

  it('reads a history with a torn line in the middle, skipping that line with a warning', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'damaged', { pid: process.pid, id: 'x' });
    // What the recovery of earlier versions wrote: an event glued onto a torn fragment, then more.
    appendFileSync(
      historyFile(dataDir, 'damaged'),
      '{"id":2,"previousEv{"id":2,"previousEventId":1,"timestamp":"2030-01-01T00:00:01.000Z","type":"ExecutionFailed"}\n',
    );
    const warn = vi.fn();

    const events = readHistory(dataDir, 'damaged', warn);

    expect(events.map((e) => e.type)).toEqual(['ExecutionStarted']);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/line 2 .*"damaged"/));
  });

  it('keeps executions show and GetExecutionHistory working on a history with a torn line', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'damaged', { pid: process.ppid, id: 'elsewhere' });
    appendFileSync(historyFile(dataDir, 'damaged'), '{"id":2,"prev\n');
    const engine = createEngine(passMachine, {}, { dataDir, logger: passLogger() });
    const lines: string[] = [];

    expect(engine.getExecutionHistory(engine.executionArnOf('damaged')).events).toHaveLength(1);
    expect(showExecution(dataDir, 'damaged', (line) => lines.push(line))).toBe(0);
    expect(lines[0]).toContain('damaged  RUNNING');
  });

  it('repairs a torn tail on the first append of this process to a history', () => {
    const dataDir = tempDataDir();
    ensureStore(dataDir);
    writeFileSync(
      join(executionsDir(dataDir), 'fresh.history.jsonl'),
      '{"id":1,"previousEventId":0,"timestamp":"2030-01-01T00:00:00.000Z","type":"ExecutionStarted"}\n{"id":2,',
    );
    const warn = vi.fn();

    appendHistoryEvent(
      dataDir,
      'fresh',
      { id: 2, previousEventId: 1, timestamp: new Date(), type: 'ExecutionFailed' },
      warn,
    );

    expect(readHistory(dataDir, 'fresh').map((e) => e.id)).toEqual([1, 2]);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('torn'));
  });

  it('skips and reports an empty or invalid record instead of failing the listing', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'fine', { pid: process.ppid, id: 'elsewhere' });
    writeFileSync(join(executionsDir(dataDir), 'empty.json'), '');
    writeFileSync(join(executionsDir(dataDir), 'half.json'), '{"name":"half"}');
    const skipped: string[] = [];

    const listed = listStoredExecutions(dataDir, (problem) => skipped.push(problem.name));

    expect(listed.map((e) => e.name)).toEqual(['fine']);
    expect(skipped.sort()).toEqual(['empty', 'half']);
  });

  it('lists an unreadable record as UNREADABLE in executions list, with the others', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'fine', { pid: process.ppid, id: 'elsewhere' });
    writeFileSync(join(executionsDir(dataDir), 'empty.json'), '');
    const lines: string[] = [];

    const code = listExecutions(dataDir, (line) => lines.push(line));

    expect(code).toBe(0);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^UNREADABLE empty {2}execution record .*empty\.json is not valid JSON/);
    expect(lines[1]).toMatch(/^RUNNING .* fine /);
  });

  it('starts an engine (serve startup) on a store with an empty record, and warns about it', () => {
    const dataDir = tempDataDir();
    leaveRunning(dataDir, 'orphan', { pid: deadPid(), id: 'gone' });
    writeFileSync(join(executionsDir(dataDir), 'empty.json'), '');
    const logger = passLogger();

    const engine = createEngine(passMachine, {}, { dataDir, logger });

    expect(readStoredExecution(dataDir, 'orphan')?.status).toBe('FAILED');
    expect(engine.listExecutions().executions.map((e) => e.name)).toEqual(['orphan']);
    expect(logger.warn).toHaveBeenCalledWith(
      'skipped an execution record that cannot be read',
      expect.objectContaining({ name: 'empty' }),
    );
  });
});
