import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PublishDeps, publishImage } from '#functions/runner/publish.ts';
import { runStage } from '#functions/runner/run-stage.ts';
import type { PublisherSettings } from '#functions/runner/runner-env.ts';
import { StageResult } from '#functions/runner/stage-result.ts';
import { ImagePublishFailedError } from '#shared/errors.ts';
import { artifactsKey } from '#shared/object-keys.ts';
import { RegistryClient } from '#shared/oci/registry-client.ts';
import { ImageConfig, Manifest } from '#shared/oci/types.ts';
import { PipelineConfig, type PipelineConfigInput } from '#shared/pipeline-config.ts';
import {
  type DockerRegistryHandle,
  freePort,
  skipReason,
  startDockerRegistry,
} from '../../helpers/docker-registry.ts';
import { pushTestBase, type TestBase } from '../../helpers/oci-images.ts';
import { startS3rver } from '../../helpers/s3rver.ts';
import {
  fakeSfn,
  newRun,
  putConfig,
  putDirectory,
  putSource,
  runnerDeps,
  runRef,
  stageInput,
  tempWorkdir,
} from './support.ts';

const run = promisify(execFile);
const noRegistry = skipReason('docker-registry');
const noSkopeo = skipReason('skopeo');

const commit = '0123456789abcdef0123456789abcdef01234567';
const commitTime = new Date('2024-05-01T12:00:00Z');
const dirs: string[] = [];

async function workdirWith(files: Record<string, string>, mtime = new Date()): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stepline-publish-src-'));
  dirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
    await utimes(join(dir, path), mtime, mtime);
  }
  return dir;
}

const serviceFiles = {
  'dist/server.js': 'console.log("hello")\n',
  'dist/greeting.js': 'export const greet = () => "hi";\n',
  'package.json': '{"type":"module"}\n',
  'src/server.js': 'not in the image\n',
};

function pipelineConfig(image: PipelineConfigInput['image']): PipelineConfig {
  return PipelineConfig.parse({
    build: { commands: ['true'], artifacts: ['dist/**'] },
    test: { commands: ['true'] },
    ...(image ? { image } : {}),
  });
}

const layersImage = {
  base: 'node:22-slim',
  files: ['dist/**', 'package.json'],
  cmd: ['node', 'dist/server.js'],
  env: { NODE_ENV: 'production', PORT: '8080' },
  ports: [8080],
  user: 'node',
  labels: { team: 'payments' },
};

describe.skipIf(noRegistry)("publishImage against Debian's docker-registry", () => {
  let registry: DockerRegistryHandle;
  let client: RegistryClient;
  let base: TestBase;

  beforeAll(async () => {
    registry = await startDockerRegistry();
    client = new RegistryClient({ registry: registry.host, insecure: true });
    base = await pushTestBase(client, 'library/node', '22-slim', ['linux/amd64', 'linux/arm64']);
  });
  afterAll(async () => {
    await registry?.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  function settings(over: Partial<PublisherSettings> = {}): PublisherSettings {
    return {
      imageRepository: 'acme/hello',
      commitTime,
      sourceUrl: 'https://ci:token@git.example.com/acme/hello.git',
      registry: registry.host,
      registryAuth: 'anonymous',
      registryInsecure: true,
      baseRegistry: `${registry.host}/library`,
      platform: 'linux/amd64',
      ...over,
    };
  }

  async function publish(
    workdir: string,
    image: PipelineConfigInput['image'] = layersImage,
    over: {
      settings?: Partial<PublisherSettings>;
      refType?: 'branch' | 'tag';
      refName?: string;
      deps?: Partial<PublishDeps>;
    } = {},
  ) {
    const lines: string[] = [];
    const result = await publishImage(
      {
        input: {
          commit,
          refType: over.refType ?? 'branch',
          refName: over.refName ?? 'main',
          repository: 'acme/hello',
        },
        config: pipelineConfig(image),
        workdir,
        log: (line) => lines.push(line),
        signal: new AbortController().signal,
      },
      { settings: settings(over.settings), retryDelayMs: 1, ...over.deps },
    );
    return { result, lines };
  }

  async function readImage(repository: string, reference: string) {
    const fetched = await client.getManifest(repository, reference);
    const manifest = Manifest.parse(JSON.parse(fetched.bytes.toString()));
    const config = ImageConfig.parse(
      JSON.parse((await client.getBlobBytes(repository, manifest.config.digest)).toString()),
    );
    return { fetched, manifest, config };
  }

  it('puts the files as one layer on the base, writes the config and labels, and tags the commit and the branch', async () => {
    const workdir = await workdirWith(serviceFiles);

    const { result, lines } = await publish(workdir, layersImage, {
      settings: { imageRepository: 'acme/first' },
    });
    const { manifest, config } = await readImage('acme/first', result.digest);

    expect(result).toMatchObject({
      repository: `${registry.host}/acme/first`,
      uri: `${registry.host}/acme/first@${result.digest}`,
      tags: [commit, 'branch-main'],
      layers: 2,
      platform: 'linux/amd64',
      mode: 'layers',
    });
    expect(manifest.layers[0]?.digest).toBe(base.layers['linux/amd64']);
    expect(config.config).toMatchObject({
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production', 'PORT=8080'],
      Cmd: ['node', 'dist/server.js'],
      WorkingDir: '/app',
      User: 'node',
      ExposedPorts: { '8080/tcp': {} },
      Labels: {
        'base.label': 'kept',
        team: 'payments',
        'org.opencontainers.image.revision': commit,
        'org.opencontainers.image.source': 'https://git.example.com/acme/hello.git',
        'org.opencontainers.image.created': '2024-05-01T12:00:00.000Z',
      },
    });
    expect(config.created).toBe('2024-05-01T12:00:00.000Z');
    expect(config.rootfs.diff_ids).toHaveLength(2);
    expect(config.history?.at(-1)).toEqual({
      created: '2024-05-01T12:00:00.000Z',
      created_by: 'stepline: COPY dist/** package.json /app/',
    });
    expect(manifest.annotations?.['org.opencontainers.image.base.name']).toBe(
      `${registry.host}/library/node:22-slim`,
    );
    expect((await client.listTags('acme/first')).sort()).toEqual(['branch-main', commit].sort());
    expect(lines.join('\n')).toContain(
      `stepline: base node:22-slim resolved to ${registry.host}/library/node:22-slim`,
    );
  });

  it('gives the same digest for the same commit whatever the files’ mtimes, and uploads nothing the second time', async () => {
    const first = await publish(
      await workdirWith(serviceFiles, new Date('2001-01-01T00:00:00Z')),
      layersImage,
      {
        settings: { imageRepository: 'acme/twice' },
      },
    );
    const second = await publish(
      await workdirWith(serviceFiles, new Date('2029-09-09T00:00:00Z')),
      layersImage,
      {
        settings: { imageRepository: 'acme/twice' },
      },
    );

    expect(second.result.digest).toBe(first.result.digest);
    expect(first.result.bytesPushed).toBeGreaterThan(0);
    expect(second.result.bytesPushed).toBe(0);
    expect(second.result.blobsSkipped).toBe(3);
    expect(second.lines).toContain(
      'stepline: blobs: 0 pushed (0 bytes), 3 skipped (already there or mounted)',
    );
  });

  it('mounts the base layers from the base repository of the same registry instead of uploading them', async () => {
    const { result, lines } = await publish(await workdirWith(serviceFiles), layersImage, {
      settings: { imageRepository: 'acme/mounted' },
    });

    expect(result.blobsSkipped).toBe(1);
    expect(lines).toContainEqual(
      expect.stringMatching(/^stepline: blobs: 2 pushed \(\d+ bytes\), 1 skipped/),
    );
    expect(await client.headBlob('acme/mounted', base.layers['linux/amd64']!)).toBeGreaterThan(0);
  });

  it('copies the base layers when the base is in another registry', async () => {
    const other = await startDockerRegistry();
    try {
      const { result } = await publish(await workdirWith(serviceFiles), layersImage, {
        settings: { registry: other.host, imageRepository: 'acme/copied' },
      });
      const target = new RegistryClient({ registry: other.host, insecure: true });

      expect(result.repository).toBe(`${other.host}/acme/copied`);
      expect(result.blobsSkipped).toBe(0);
      expect(await target.headBlob('acme/copied', base.layers['linux/amd64']!)).toBeGreaterThan(0);
      expect((await target.getManifest('acme/copied', commit)).digest).toBe(result.digest);
    } finally {
      await other.close();
    }
  });

  it('picks the platform it is told from a base index', async () => {
    const { result } = await publish(await workdirWith(serviceFiles), layersImage, {
      settings: { platform: 'linux/arm64', imageRepository: 'acme/arm' },
    });
    const { manifest, config } = await readImage('acme/arm', result.digest);

    expect(result.platform).toBe('linux/arm64');
    expect(config.architecture).toBe('arm64');
    expect(manifest.layers[0]?.digest).toBe(base.layers['linux/arm64']);
  });

  it('tags a git tag with its sanitized name', async () => {
    const { result } = await publish(await workdirWith(serviceFiles), layersImage, {
      refType: 'tag',
      refName: 'v1.2.0+build.7',
      settings: { imageRepository: 'acme/release' },
    });

    expect(result.tags).toEqual([commit, 'v1.2.0-build.7']);
    expect((await client.getManifest('acme/release', 'v1.2.0-build.7')).digest).toBe(result.digest);
  });

  it('fails naming the base it looked for and the tags the registry holds', async () => {
    const error = await publish(await workdirWith(serviceFiles), { ...layersImage, base: 'node:99' }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(ImagePublishFailedError);
    expect((error as Error).message).toBe(
      `base image "node:99" not found: looked for ${registry.host}/library/node:99; ${registry.host}/library/node has the tags 22-slim`,
    );
  });

  it('fails naming a platform the base does not offer', async () => {
    await expect(
      publish(await workdirWith(serviceFiles), layersImage, { settings: { platform: 'linux/s390x' } }),
    ).rejects.toThrow(
      `(${registry.host}/library/node:22-slim) has no linux/s390x image; it offers linux/amd64, linux/arm64`,
    );
  });

  it('fails saying where it looked when the files match nothing', async () => {
    const workdir = await workdirWith({ 'README.md': 'x' });

    await expect(publish(workdir)).rejects.toThrow(
      `image.files dist/**, package.json matched no file in the source and build artifacts (looked in ${workdir})`,
    );
  });

  it('fails naming the registry when it cannot be reached', async () => {
    const port = await freePort();
    const base = `127.0.0.1:${port}/library/node:22`;

    await expect(publish(await workdirWith(serviceFiles), { ...layersImage, base })).rejects.toThrow(
      `could not read the base image "${base}" (${base}): could not read manifest 22 from repository "library/node" on registry 127.0.0.1:${port}: could not connect: ECONNREFUSED`,
    );
  });

  it('runs as the publish stage and reports the image in SendTaskSuccess', async () => {
    const s3 = await startS3rver();
    try {
      const runName = newRun();
      await putSource(s3.client, s3.bucket, runName, { 'package.json': '{"type":"module"}\n' });
      const built = await workdirWith({ 'dist/server.js': 'console.log(1)\n' });
      await putDirectory(s3.client, s3.bucket, artifactsKey(runRef(runName)), built);
      await putConfig(s3.client, s3.bucket, runName, {
        build: { commands: ['true'], artifacts: ['dist/**'] },
        test: { commands: ['true'] },
        image: { base: 'node:22-slim', files: ['dist/**', 'package.json'], cmd: ['node', 'dist/server.js'] },
      });
      const sfn = fakeSfn();
      const lines: string[] = [];

      await runStage(
        stageInput(runName, 'publish', { commit }),
        runnerDeps(s3.client, s3.bucket, sfn.sfn, await tempWorkdir(), lines, {
          publisher: { settings: settings({ imageRepository: 'acme/stage' }), retryDelayMs: 1 },
        }),
      );
      const output = StageResult.parse(
        JSON.parse(String(sfn.named('SendTaskSuccessCommand')[0]?.input['output'])),
      );

      expect(output).toMatchObject({ stage: 'publish', commands: [], image: { mode: 'layers', layers: 2 } });
      expect(output.image?.uri).toBe(`${registry.host}/acme/stage@${output.image?.digest}`);
      expect(lines.some((l) => l.includes(`stepline: tags ${commit}, branch-main`))).toBe(true);
    } finally {
      await s3.close();
    }
  });

  it.skipIf(noSkopeo)('agrees with skopeo inspect and skopeo copy', async () => {
    const { result } = await publish(await workdirWith(serviceFiles), layersImage, {
      settings: { imageRepository: 'acme/skopeo' },
    });
    const ref = `docker://${registry.host}/acme/skopeo@${result.digest}`;

    const inspected = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', ref])).stdout) as {
      Digest: string;
      Labels: Record<string, string>;
      Architecture: string;
      Layers: string[];
    };
    const copyDir = await mkdtemp(join(tmpdir(), 'stepline-skopeo-'));
    dirs.push(copyDir);
    await run('skopeo', ['copy', '--src-tls-verify=false', ref, `oci:${copyDir}:copied`]);
    const index = JSON.parse(await readFile(join(copyDir, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };

    expect(inspected.Digest).toBe(result.digest);
    expect(inspected.Labels['org.opencontainers.image.revision']).toBe(commit);
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Layers).toHaveLength(2);
    expect(index.manifests[0]?.digest).toBe(result.digest);
  });
});

describe('publishImage without a registry', () => {
  it('fails with the minimal example when stepline.yml has no image section', async () => {
    const error = await publishImage(
      {
        input: { commit, refType: 'branch', refName: 'main', repository: 'acme/hello' },
        config: pipelineConfig(undefined),
        workdir: tmpdir(),
        log: () => {},
        signal: new AbortController().signal,
      },
      {
        settings: {
          imageRepository: 'acme/hello',
          commitTime,
          sourceUrl: '',
          registry: '127.0.0.1:9',
          registryAuth: 'anonymous',
          registryInsecure: true,
          baseRegistry: '127.0.0.1:9/library',
          platform: 'linux/amd64',
        },
      },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ImagePublishFailedError);
    expect((error as Error).message).toContain('stepline.yml has no image section');
    expect((error as Error).message).toContain(
      'image:\n  base: node:22-slim\n  files: [dist/**, package.json]',
    );
  });
});

const noBuildah = skipReason('buildah');

describe.skipIf(noRegistry || noBuildah)('publishImage, dockerfile mode with buildah', () => {
  let registry: DockerRegistryHandle;
  beforeAll(async () => {
    registry = await startDockerRegistry();
  });
  afterAll(async () => {
    await registry?.close();
  });

  async function publishDockerfile(
    workdir: string,
    dockerfile: NonNullable<PipelineConfigInput['image']>['dockerfile'],
  ) {
    const lines: string[] = [];
    const result = await publishImage(
      {
        input: { commit, refType: 'branch', refName: 'main', repository: 'acme/hello' },
        config: pipelineConfig({ dockerfile }),
        workdir,
        log: (line) => lines.push(line),
        signal: new AbortController().signal,
      },
      {
        settings: {
          imageRepository: 'acme/built',
          commitTime,
          sourceUrl: 'https://git.example.com/acme/hello.git',
          registry: registry.host,
          registryAuth: 'anonymous',
          registryInsecure: true,
          baseRegistry: `${registry.host}/library`,
          platform: `linux/${process.arch === 'arm64' ? 'arm64' : 'amd64'}`,
        },
        retryDelayMs: 1,
      },
    );
    return { result, lines };
  }

  const fixture = {
    'docker/Dockerfile':
      'FROM scratch AS first\nCOPY hello.txt /hello.txt\n\nFROM first AS runtime\nARG GREETING\nLABEL greeting=$GREETING\nCMD ["/hello"]\n',
    'app/hello.txt': 'hello from buildah\n',
  };

  it('builds a FROM scratch Dockerfile offline, pushes it with the commit labels, and gives the same digest twice', async () => {
    const dockerfile = {
      path: 'docker/Dockerfile',
      context: 'app',
      target: 'runtime',
      buildArgs: { GREETING: 'hi' },
    };

    const first = await publishDockerfile(
      await workdirWith(fixture, new Date('2001-01-01T00:00:00Z')),
      dockerfile,
    );
    const second = await publishDockerfile(
      await workdirWith(fixture, new Date('2029-01-01T00:00:00Z')),
      dockerfile,
    );
    const client = new RegistryClient({ registry: registry.host, insecure: true });
    const manifest = Manifest.parse(
      JSON.parse((await client.getManifest('acme/built', commit)).bytes.toString()),
    );
    const config = ImageConfig.parse(
      JSON.parse((await client.getBlobBytes('acme/built', manifest.config.digest)).toString()),
    );

    // buildah commits one layer per stage: the COPY, then the (empty) runtime stage.
    expect(first.result).toMatchObject({ mode: 'dockerfile', layers: 2, tags: [commit, 'branch-main'] });
    expect(config.config?.Labels).toMatchObject({
      greeting: 'hi',
      'org.opencontainers.image.revision': commit,
      'org.opencontainers.image.created': '2024-05-01T12:00:00.000Z',
    });
    expect(config.config?.Cmd).toEqual(['/hello']);
    expect(second.result.digest).toBe(first.result.digest);
    expect(second.result.bytesPushed).toBe(0);
  });

  it('fails with the end of the build log when the Dockerfile is broken', async () => {
    const workdir = await workdirWith({ Dockerfile: 'FROM scratch\nCOPY missing.txt /missing.txt\n' });

    const error = (await publishDockerfile(workdir, {}).catch((e: unknown) => e)) as Error;

    expect(error).toBeInstanceOf(ImagePublishFailedError);
    expect(error.message).toMatch(/^buildah could not build Dockerfile \(exit code \d+\):\n/);
    expect(error.message).toContain('missing.txt');
  });

  it('fails saying where it looked when the Dockerfile is not in the source', async () => {
    const workdir = await workdirWith({ 'README.md': 'x' });

    await expect(publishDockerfile(workdir, { path: 'Containerfile' })).rejects.toThrow(
      `image.dockerfile.path "Containerfile" is not a file in the source (looked for ${join(workdir, 'Containerfile')})`,
    );
  });
});

describe('publishImage, dockerfile mode without buildah', () => {
  it('says how to install buildah', async () => {
    const workdir = await workdirWith({ Dockerfile: 'FROM scratch\n' });

    const error = await publishImage(
      {
        input: { commit, refType: 'branch', refName: 'main', repository: 'acme/hello' },
        config: pipelineConfig({ dockerfile: {} }),
        workdir,
        log: () => {},
        signal: new AbortController().signal,
      },
      {
        settings: {
          imageRepository: 'acme/hello',
          commitTime,
          sourceUrl: '',
          registry: '127.0.0.1:9',
          registryAuth: 'anonymous',
          registryInsecure: true,
          baseRegistry: '127.0.0.1:9/library',
          platform: 'linux/amd64',
        },
        buildah: 'stepline-test-no-such-buildah',
      },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ImagePublishFailedError);
    expect((error as Error).message).toContain(
      'image.dockerfile needs buildah, and "stepline-test-no-such-buildah" is not on the PATH. Install it (Debian/Ubuntu: apt-get install buildah',
    );
  });
});
