import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';
import { buildKey, upToDate, writeStamp } from '#local/build-stamp.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const runnerEntry = fileURLToPath(new URL('../../functions/runner/main.ts', import.meta.url));

/**
 * Bundles the runner exactly as its Fargate image does (functions/runner/Dockerfile): one ESM
 * file for Node, names kept so error names survive. Starting a bundle is several times faster
 * than compiling TypeScript at every task launch. Built again only when a source file, the
 * options or esbuild changed since the last build into `outDir` (as the Lambdas' bundles are).
 */
export async function bundleRunner(dir: string): Promise<string> {
  // Absolute: esbuild resolves paths against absWorkingDir (the repository), not this process's cwd.
  const outDir = resolve(dir);
  await mkdir(outDir, { recursive: true });
  const outfile = join(outDir, 'runner.mjs');
  const stampFile = join(outDir, 'runner.inputs.json');
  const options: BuildOptions = {
    entryPoints: [runnerEntry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    keepNames: true,
    sourcemap: true,
    outfile,
    logLevel: 'error',
    banner: {
      js: "import { createRequire as __stepline_require } from 'node:module'; const require = __stepline_require(import.meta.url);",
    },
    metafile: true,
    absWorkingDir: repoRoot,
  };
  const key = buildKey(options);
  if (await upToDate(stampFile, outfile, key)) return outfile;
  const result = await build(options);
  await writeStamp(stampFile, key, Object.keys(result.metafile?.inputs ?? {}), repoRoot);
  return outfile;
}
