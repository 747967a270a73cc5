import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runStage } from '#functions/runner/run-stage.ts';
import { StageResult } from '#functions/runner/stage-result.ts';
import { configKey, sourceKey } from '#shared/object-keys.ts';
import { PipelineConfig } from '#shared/pipeline-config.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { fakeSfn, newRun, putDirectory, runnerDeps, runRef, stageInput, tempWorkdir } from './support.ts';

const example = new URL('../../../examples/hello-service/', import.meta.url).pathname;

let s3: S3rverHandle;
let source: string;
beforeAll(async () => {
  s3 = await startS3rver();
  source = await mkdtemp(join(tmpdir(), 'stepline-hello-'));
  await cp(example, source, {
    recursive: true,
    filter: (path) =>
      !/\/(node_modules|dist|reports|\.build-cache)(\/|$)/.test(path.slice(example.length - 1)),
  });
});
afterAll(async () => {
  await s3.close();
  await rm(source, { recursive: true, force: true });
});

it('builds and tests examples/hello-service through runStage as the pipeline does', async () => {
  const run = newRun();
  await putDirectory(s3.client, s3.bucket, sourceKey(runRef(run)), source);
  const config = PipelineConfig.parse(parse(await readFile(join(source, 'stepline.yml'), 'utf8')));
  await s3.client.send(
    new PutObjectCommand({
      Bucket: s3.bucket,
      Key: configKey(runRef(run)),
      Body: JSON.stringify(config),
    }),
  );
  const build = fakeSfn();
  const test = fakeSfn();

  await runStage(stageInput(run, 'build'), runnerDeps(s3.client, s3.bucket, build.sfn, await tempWorkdir()));
  await runStage(stageInput(run, 'test'), runnerDeps(s3.client, s3.bucket, test.sfn, await tempWorkdir()));

  const built = StageResult.parse(
    JSON.parse(String(build.named('SendTaskSuccessCommand')[0]?.input['output'])),
  );
  const tested = StageResult.parse(
    JSON.parse(String(test.named('SendTaskSuccessCommand')[0]?.input['output'])),
  );
  expect(built.artifacts?.files).toBeGreaterThanOrEqual(4);
  expect(built.cache).toMatchObject({ restored: false, saved: true });
  expect(tested.tests).toMatchObject({ failed: 0, errors: 0, reports: 1 });
  expect(tested.tests?.passed).toBeGreaterThan(0);
});
