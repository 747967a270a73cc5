import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether a command is on the PATH; the reason to print when it is not. */
export function toolAvailable(command: string, versionArgs: string[] = ['--version']): string | undefined {
  const probe = spawnSync(command, versionArgs, { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    return `${command} is not installed (apt-get install ${aptPackage[command] ?? command}); the test is skipped`;
  }
  return undefined;
}

const aptPackage: Record<string, string> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  buildah: 'buildah',
};

/** Skips with a printed reason: `it.skipIf(skipReason('skopeo'))`. */
export function skipReason(command: string): boolean {
  const reason = toolAvailable(command);
  if (reason) console.warn(`skipped: ${reason}`);
  return reason !== undefined;
}

export interface DockerRegistryHandle {
  /** `127.0.0.1:<port>` */
  host: string;
  close(): Promise<void>;
}

/**
 * Starts Debian's `docker-registry` (distribution 2.x) on a free loopback port with its own
 * config, storage in a temporary directory and no auth. `close()` stops it and removes the
 * directory.
 */
export async function startDockerRegistry(): Promise<DockerRegistryHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'stepline-docker-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const host = `127.0.0.1:${port}`;
  try {
    await waitUntilUp(host, child, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    host,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilUp(host: string, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null)
      throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    const up = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not answer on ${host}: ${stderr()}`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
