import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SFNClient } from '@aws-sdk/client-sfn';
import * as tar from 'tar';
import type { RunnerDeps } from '#functions/runner/run-stage.ts';
import type { StageInput } from '#functions/runner/stage-input.ts';
import { configKey, type RunRef, sourceKey } from '#shared/object-keys.ts';
import { PipelineConfig, type PipelineConfigInput } from '#shared/pipeline-config.ts';

export interface SentCommand {
  name: string;
  input: Record<string, unknown>;
}

/** A Step Functions stand-in that records every command; `onSend` may throw to simulate an API error. */
export function fakeSfn(onSend?: (command: SentCommand) => void) {
  const sent: SentCommand[] = [];
  const sfn = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const entry = { name: command.constructor.name, input: command.input };
      sent.push(entry);
      onSend?.(entry);
      return {};
    },
  } as unknown as Pick<SFNClient, 'send'>;
  return { sfn, sent, named: (name: string) => sent.filter((c) => c.name === name) };
}

/** The repository every runner test pushes, unless a test names another. */
export const testRepository = { provider: 'github', repository: 'acme/hello' } as const;

/** The run's keys are under `runs/github/acme%2Fhello/<run>/` (#shared/object-keys.ts). */
export function runRef(run: string): RunRef {
  return { ...testRepository, run };
}

/** Packs `files` (path → content) as the run's source.tar.gz, root = repository root. */
export async function putSource(s3: S3Client, bucket: string, run: string, files: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'stepline-src-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  await putDirectory(s3, bucket, sourceKey(runRef(run)), dir);
  await rm(dir, { recursive: true, force: true });
}

/** Packs a directory's content (no top-level folder) into a gzipped tarball object. */
export async function putDirectory(s3: S3Client, bucket: string, key: string, dir: string) {
  const file = join(await mkdtemp(join(tmpdir(), 'stepline-tgz-')), 'a.tar.gz');
  await tar.c({ gzip: true, cwd: dir, file, portable: true }, await readdir(dir));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(file) }));
  await rm(dirname(file), { recursive: true, force: true });
}

/** Stores the parsed stepline.yml as FetchSource does, at the run's stepline.json. */
export async function putConfig(s3: S3Client, bucket: string, run: string, config: PipelineConfigInput) {
  const body = JSON.stringify(PipelineConfig.parse(config));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: configKey(runRef(run)), Body: body }));
}

let runs = 0;
/** A fresh run name per call, so tests sharing one s3rver do not see each other's objects. */
export function newRun(): string {
  runs += 1;
  return `github-test-${process.pid}-${runs}`;
}

export function stageInput(
  run: string,
  stage: StageInput['stage'],
  over: Partial<StageInput> = {},
): StageInput {
  return {
    taskToken: `token-${run}-${stage}`,
    stage,
    run,
    ...testRepository,
    commit: 'abc1234def',
    refType: 'branch',
    refName: 'main',
    defaultBranch: 'main',
    sourceKey: sourceKey(runRef(run)),
    configKey: configKey(runRef(run)),
    ...over,
  };
}

export async function tempWorkdir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'stepline-work-'));
}

export function runnerDeps(
  s3: S3Client,
  bucket: string,
  sfn: Pick<SFNClient, 'send'>,
  workdir: string,
  lines: string[] = [],
  over: Partial<RunnerDeps> = {},
): RunnerDeps {
  return {
    s3,
    sfn,
    bucket,
    workdir,
    heartbeatMs: 60_000,
    log: (line) => lines.push(line),
    now: Date.now,
    logFlushMs: 60_000,
    ...over,
  };
}
