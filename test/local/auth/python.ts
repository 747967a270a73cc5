import { execFile, spawnSync } from 'node:child_process';

/** Whether python3 with boto3 is here; the reason when not (printed by the tests that skip). */
export const boto3 = (() => {
  const probe = spawnSync('python3', ['-c', 'import boto3'], { encoding: 'utf8' });
  const available = probe.status === 0;
  if (!available)
    console.warn(
      `skipping the boto3 tests: python3 with boto3 is not available here (${probe.error?.message ?? probe.stderr.trim()})`,
    );
  return { available };
})();

/**
 * Runs a Python script with `args` (asynchronously: the stand-in it talks to runs in this process)
 * and parses the JSON it prints last.
 */
export function runPython(script: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(
      'python3',
      ['-c', script, ...args],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: process.env.HOME ?? '/tmp',
          AWS_EC2_METADATA_DISABLED: 'true',
        },
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`python3 failed: ${error.message}\n${stderr}`));
          return;
        }
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? ''));
      },
    );
  });
}
