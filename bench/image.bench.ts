// npm run bench:image — PublishImage (layers mode) of examples/hello-service's built artifacts:
// into an empty local registry (the base image is there, the service's repository is empty), then
// again with everything present; then, when Debian's docker-registry is installed, into that
// empty registry, where the base layers must be copied. Prints seconds, bytes pushed and blobs
// skipped.
import '#local/polyfills.ts';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ECRClient } from '@aws-sdk/client-ecr';
import { parsePipelineConfig } from '#functions/fetch-source/read-pipeline-config.ts';
import { publishImage } from '#functions/runner/publish.ts';
import type { PublisherSettings } from '#functions/runner/runner-env.ts';
import { hostPlatform } from '#local/registry/base-images.ts';
import { startLocalRegistry } from '#local/registry/server.ts';
import type { PublishedImage } from '#shared/published-image.ts';
import { skipReason, startDockerRegistry } from '../test/helpers/docker-registry.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const run = promisify(execFile);
const example = fileURLToPath(new URL('../examples/hello-service', import.meta.url));
const commit = '5f5aa3c3cffd9f8f001c6ec3224bc04466a711c8';
const goalSecondMs = 1000;

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'stepline-bench-image-'));
  const workdir = join(scratch, 'hello-service');
  await cp(example, workdir, {
    recursive: true,
    filter: (src) => !/node_modules|[\\/]dist$|\.build-cache/.test(src),
  });
  await run(process.execPath, ['scripts/build.js'], {
    cwd: workdir,
    env: { ...process.env, STEPLINE_COMMIT: commit },
  });
  const config = parsePipelineConfig(await readFile(join(workdir, 'stepline.yml'), 'utf8'));

  const registry = await startLocalRegistry({
    dir: join(scratch, 'registry'),
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const ecr = new ECRClient({
    endpoint: registry.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  try {
    const started = Date.now();
    await registry.baseImagesReady;
    console.log(
      `local registry ${registry.host}: base library/node built in ${seconds(Date.now() - started)}`,
    );

    const settings: PublisherSettings = {
      imageRepository: 'local/hello-service',
      commitTime: new Date('2024-05-01T12:00:00Z'),
      sourceUrl: 'https://git.example.com/local/hello-service.git',
      registry: registry.host,
      registryAuth: 'ecr',
      registryInsecure: true,
      baseRegistry: `${registry.host}/library`,
      platform: hostPlatform(),
    };
    const publish = async (label: string, over: Partial<PublisherSettings> = {}) => {
      const t0 = performance.now();
      const image = await publishImage(
        {
          input: { commit, refType: 'branch', refName: 'main', repository: 'local/hello-service' },
          config,
          workdir,
          log: () => {},
          signal: new AbortController().signal,
        },
        { settings: { ...settings, ...over }, ecr },
      );
      const ms = performance.now() - t0;
      report(label, ms, image);
      return { ms, image };
    };

    const first = await publish('local registry, empty repository');
    const second = await publish('local registry, everything present');
    if (second.image.digest !== first.image.digest) throw new Error('the second publish gave another digest');
    console.log(
      `goal: second publish under ${goalSecondMs} ms, pushing nothing new: ${second.ms < goalSecondMs && second.image.bytesPushed === 0 ? 'met' : 'NOT met'}`,
    );

    if (skipReason('docker-registry')) {
      console.log('docker-registry not installed: the copy-from-another-registry figures are skipped');
      return;
    }
    const other = await startDockerRegistry();
    try {
      const copy = { registry: other.host, registryAuth: 'anonymous' as const };
      await publish('empty docker-registry, base layers copied', copy);
      await publish('docker-registry, everything present', copy);
    } finally {
      await other.close();
    }
  } finally {
    ecr.destroy();
    await registry.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

function report(label: string, ms: number, image: PublishedImage): void {
  console.log(
    `${label.padEnd(44)} ${seconds(ms).padStart(8)}  ${String(image.bytesPushed).padStart(10)} bytes pushed  ${image.blobsSkipped ?? 0}/${image.layers + 1} blobs skipped  ${image.digest.slice(0, 19)}…`,
  );
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

await main();
