import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImagePublishFailedError } from '#shared/errors.ts';
import type { RegistryClient } from '#shared/oci/registry-client.ts';
import { formatPlatform, ImageConfig, Index, Manifest, MediaType } from '#shared/oci/types.ts';
import { runCommand } from './exec.ts';
import {
  type BuiltImage,
  commitLabels,
  isLoopback,
  type PublishDeps,
  type PublishRequest,
} from './publish-common.ts';

/** Lines of buildah's output quoted in the error when a build fails. */
const tailLines = 40;

/**
 * The dockerfile mode: `buildah bud` with chroot isolation and vfs storage (unprivileged, no
 * daemon) into a storage directory under `scratch`, then `buildah push` into an OCI layout there.
 * The build's timestamps are the commit time (`--timestamp`). Short base names in `FROM` resolve
 * in `STEPLINE_BASE_REGISTRY`, as in the layers mode. Returns the image ready to push.
 */
export async function buildWithBuildah(
  request: PublishRequest,
  deps: PublishDeps,
  target: RegistryClient,
  scratch: string,
): Promise<BuiltImage> {
  const { config, workdir, log, signal } = request;
  const settings = deps.settings;
  const dockerfile = config.image!.dockerfile!;
  const buildah = deps.buildah ?? 'buildah';
  await requireBuildah(buildah);

  const dockerfilePath = join(workdir, dockerfile.path);
  const contextPath = join(workdir, dockerfile.context);
  if (!(await isA(dockerfilePath, 'file'))) {
    throw new ImagePublishFailedError(
      `image.dockerfile.path "${dockerfile.path}" is not a file in the source (looked for ${dockerfilePath})`,
    );
  }
  if (!(await isA(contextPath, 'directory'))) {
    throw new ImagePublishFailedError(
      `image.dockerfile.context "${dockerfile.context}" is not a directory in the source (looked for ${contextPath})`,
    );
  }

  const registriesConf = join(scratch, 'registries.conf');
  await writeFile(
    registriesConf,
    registriesConfFor(settings.baseRegistry, settings.registry, settings.registryInsecure),
  );
  const authFile = join(scratch, 'auth.json');
  const basic = await target.basicAuthorization();
  await writeFile(
    authFile,
    JSON.stringify({ auths: basic ? { [settings.registry]: { auth: basic.replace(/^Basic /, '') } } : {} }),
    { mode: 0o600 },
  );
  const global = [
    '--root',
    join(scratch, 'storage'),
    '--runroot',
    join(scratch, 'run'),
    '--storage-driver',
    'vfs',
  ];
  const env = buildahEnv(process.env, registriesConf);
  const labels = { ...(config.image!.labels ?? {}), ...commitLabels(request.input.commit, settings) };
  const iidFile = join(scratch, 'iid');
  const bud = [
    ...global,
    'bud',
    '--isolation',
    'chroot',
    '--format',
    'oci',
    '--timestamp',
    String(Math.floor(settings.commitTime.getTime() / 1000)),
    '--platform',
    settings.platform,
    '--authfile',
    authFile,
    '--iidfile',
    iidFile,
    '--file',
    dockerfilePath,
    ...(dockerfile.target ? ['--target', dockerfile.target] : []),
    ...Object.entries(dockerfile.buildArgs).flatMap(([name, value]) => ['--build-arg', `${name}=${value}`]),
    ...Object.entries(labels).flatMap(([name, value]) => ['--label', `${name}=${value}`]),
    contextPath,
  ];
  log(
    `stepline: buildah bud ${dockerfile.path}${dockerfile.target ? ` --target ${dockerfile.target}` : ''} (context ${dockerfile.context})`,
  );
  try {
    await run(
      buildah,
      bud,
      { cwd: workdir, env, log, signal },
      (tail, exitCode) =>
        new ImagePublishFailedError(
          `buildah could not build ${dockerfile.path} (exit code ${exitCode}):\n${tail.join('\n')}`,
        ),
    );
    const imageId = (await readFile(iidFile, 'utf8')).trim();
    const layout = join(scratch, 'layout');
    await run(
      buildah,
      [...global, 'push', '--format', 'oci', '--authfile', authFile, imageId, `oci:${layout}`],
      { cwd: workdir, env, log, signal },
      (tail, exitCode) =>
        new ImagePublishFailedError(
          `buildah push into an OCI layout failed (exit code ${exitCode}):\n${tail.join('\n')}`,
        ),
    );
    return await readLayout(layout, log);
  } finally {
    await run(
      buildah,
      [...global, 'rmi', '--all', '--force'],
      { cwd: workdir, env, log: () => {}, signal },
      () => undefined,
    ).catch(() => undefined);
  }
}

/** The single image of an OCI layout, its blobs pointing at the layout's files. */
export async function readLayout(layout: string, log: (line: string) => void): Promise<BuiltImage> {
  const blobPath = (digest: string) => join(layout, 'blobs', ...digest.split(':'));
  const index = Index.parse(JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')));
  const entry = index.manifests[0];
  if (!entry) throw new ImagePublishFailedError(`the OCI layout ${layout} holds no image`);
  const manifestBytes = await readFile(blobPath(entry.digest));
  const manifest = Manifest.parse(JSON.parse(manifestBytes.toString('utf8')));
  const config = ImageConfig.parse(JSON.parse(await readFile(blobPath(manifest.config.digest), 'utf8')));
  log(
    `stepline: built ${formatPlatform(config)} image with ${manifest.layers.length} layer(s), manifest ${entry.digest}`,
  );
  return {
    blobs: [manifest.config, ...manifest.layers].map((descriptor) => ({
      descriptor,
      source: { path: blobPath(descriptor.digest) },
    })),
    manifest: manifestBytes,
    mediaType: manifest.mediaType ?? entry.mediaType ?? MediaType.ociManifest,
    layers: manifest.layers.length,
    platform: formatPlatform(config),
    mode: 'dockerfile',
  };
}

/**
 * registries.conf for the build: short names (`node:22-slim`, i.e. `docker.io/library/node`) are
 * pulled from `baseRegistry`; loopback registries are plain http.
 */
export function registriesConfFor(baseRegistry: string, registry: string, registryInsecure: boolean): string {
  const baseHost = baseRegistry.split('/')[0] ?? baseRegistry;
  const lines = [
    'unqualified-search-registries = ["docker.io"]',
    'short-name-mode = "permissive"',
    '',
    '[[registry]]',
    'prefix = "docker.io/library"',
    `location = ${JSON.stringify(baseRegistry)}`,
    `insecure = ${isLoopback(baseHost)}`,
    '',
  ];
  if (baseHost !== registry) {
    lines.push(
      '[[registry]]',
      `location = ${JSON.stringify(registry)}`,
      `insecure = ${registryInsecure}`,
      '',
    );
  }
  if (isLoopback(baseHost) && baseHost !== registry) {
    lines.push('[[registry]]', `location = ${JSON.stringify(baseHost)}`, 'insecure = true', '');
  }
  return lines.join('\n');
}

/** The runner's environment without the task token, other STEPLINE_* settings or AWS credentials. */
function buildahEnv(base: NodeJS.ProcessEnv, registriesConf: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (name.startsWith('STEPLINE_') || name.startsWith('AWS_')) continue;
    env[name] = value;
  }
  return { ...env, CONTAINERS_REGISTRIES_CONF: registriesConf, BUILDAH_ISOLATION: 'chroot' };
}

async function requireBuildah(buildah: string): Promise<void> {
  const found = await new Promise<boolean>((resolve) => {
    const child = spawn(buildah, ['--version'], { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
  if (!found) {
    throw new ImagePublishFailedError(
      `image.dockerfile needs buildah, and "${buildah}" is not on the PATH. Install it (Debian/Ubuntu: apt-get install buildah; Fedora: dnf install buildah), or use the layers mode (image.base), which needs no builder.`,
    );
  }
}

async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: (line: string) => void; signal: AbortSignal },
  onFailure: (tail: string[], exitCode: number) => Error | undefined,
): Promise<void> {
  const tail: string[] = [];
  const exit = await runCommand([command, ...args].map(shellQuote).join(' '), {
    cwd: options.cwd,
    env: options.env,
    timeoutMs: 3 * 3600_000,
    signal: options.signal,
    onLine: (line) => {
      options.log(line);
      tail.push(line);
      if (tail.length > tailLines) tail.shift();
    },
  });
  if (exit.exitCode !== 0 || exit.timedOut) {
    const error = onFailure(tail, exit.exitCode);
    if (error) throw error;
  }
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Whether `path` exists and is a regular file or a directory. */
function isA(path: string, kind: 'file' | 'directory'): Promise<boolean> {
  return stat(path).then(
    (info) => (kind === 'file' ? info.isFile() : info.isDirectory()),
    () => false,
  );
}
