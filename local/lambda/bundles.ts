import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, version as esbuildVersion } from 'esbuild';
import { type LambdaCompute, lambdaBundling } from '#shared/compute.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const bootstrapEntry = fileURLToPath(new URL('./bootstrap.ts', import.meta.url));

/**
 * esbuild's options for one Lambda, as CDK's NodejsFunction passes them for the stack's bundling
 * options (`--bundle --platform=node --target --format --main-fields --minify --keep-names
 * --sourcemap --sources-content=false --banner:js`): the local runtime runs the file the stack ships.
 */
export function lambdaBuildOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: lambdaBundling.target,
    format: lambdaBundling.format,
    mainFields: [...lambdaBundling.mainFields],
    minify: lambdaBundling.minify,
    keepNames: lambdaBundling.keepNames,
    external: [...lambdaBundling.externalModules],
    sourcemap: lambdaBundling.sourceMap,
    sourcesContent: lambdaBundling.sourcesContent,
    banner: { js: lambdaBundling.banner },
    metafile: true,
    logLevel: 'error',
  };
}

/** What a bundle was built from: rebuilt when any input file, the options or esbuild changed. */
interface BuildStamp {
  key: string;
  inputs: Record<string, { size: number; mtimeMs: number }>;
}

const bundlePath = (outDir: string, compute: LambdaCompute) =>
  join(resolve(outDir), compute.folder, 'index.mjs');
const stampPath = (outDir: string, compute: LambdaCompute) =>
  join(resolve(outDir), compute.folder, 'inputs.json');

/** The options every bundle shares, hashed into each stamp. */
const sharedKey = () =>
  createHash('sha256')
    .update(JSON.stringify({ options: lambdaBuildOptions('', ''), esbuild: esbuildVersion }))
    .digest('hex');

/**
 * Builds each function's `entry` into `<outDir>/<folder>/index.mjs` (with its source map), except
 * those whose bundle there was built from the same sources, options and esbuild. The stale ones
 * are built by one esbuild run (they share most of their modules: the SDK, zod, Powertools), each
 * a whole bundle of its own as the stack's are. Returns each function's bundle by folder.
 */
export async function bundleLambdas(
  computes: readonly LambdaCompute[],
  outDir: string,
): Promise<Map<string, string>> {
  const key = sharedKey();
  const stale: LambdaCompute[] = [];
  for (const compute of computes) {
    if (!(await upToDate(stampPath(outDir, compute), bundlePath(outDir, compute), key))) stale.push(compute);
  }
  if (stale.length > 0) {
    const { entryPoints: _single, outfile: _outfile, ...options } = lambdaBuildOptions('', '');
    const result = await build({
      ...options,
      entryPoints: Object.fromEntries(stale.map((c) => [`${c.folder}/index`, resolve(repoRoot, c.entry)])),
      outdir: resolve(outDir),
      outExtension: { '.js': '.mjs' },
      absWorkingDir: repoRoot,
    });
    for (const compute of stale) {
      const output = Object.entries(result.metafile?.outputs ?? {}).find(
        ([path]) => resolve(repoRoot, path) === bundlePath(outDir, compute),
      )?.[1];
      await writeStamp(stampPath(outDir, compute), key, Object.keys(output?.inputs ?? {}));
    }
  }
  return new Map(computes.map((c) => [c.folder, bundlePath(outDir, c)]));
}

/** {@link bundleLambdas} for one function; returns its bundle's path. */
export async function bundleLambda(compute: LambdaCompute, outDir: string): Promise<string> {
  await bundleLambdas([compute], outDir);
  return bundlePath(outDir, compute);
}

/**
 * The worker that hosts one Lambda (local/lambda/bootstrap.ts) as plain JavaScript in
 * `<outDir>/bootstrap.mjs`: a worker thread loads it without a TypeScript loader.
 */
export async function bundleBootstrap(outDir: string): Promise<string> {
  const outfile = join(resolve(outDir), 'bootstrap.mjs');
  const stampFile = join(resolve(outDir), 'bootstrap.inputs.json');
  const options: BuildOptions = {
    ...lambdaBuildOptions(bootstrapEntry, outfile),
    minify: false,
    absWorkingDir: repoRoot,
  };
  const key = createHash('sha256')
    .update(JSON.stringify({ options, esbuild: esbuildVersion }))
    .digest('hex');
  if (await upToDate(stampFile, outfile, key)) return outfile;
  const result = await build(options);
  await writeStamp(stampFile, key, Object.keys(result.metafile?.inputs ?? {}));
  return outfile;
}

async function writeStamp(stampFile: string, key: string, inputs: readonly string[]): Promise<void> {
  const stamp: BuildStamp = { key, inputs: {} };
  for (const input of inputs) {
    const path = resolve(repoRoot, input);
    const info = await stat(path).catch(() => undefined);
    if (info) stamp.inputs[path] = { size: info.size, mtimeMs: info.mtimeMs };
  }
  await mkdir(join(stampFile, '..'), { recursive: true });
  await writeFile(stampFile, `${JSON.stringify(stamp)}\n`);
}

async function upToDate(stampFile: string, outfile: string, key: string): Promise<boolean> {
  let stamp: BuildStamp;
  try {
    stamp = JSON.parse(await readFile(stampFile, 'utf8')) as BuildStamp;
    await stat(outfile);
  } catch {
    return false;
  }
  if (stamp.key !== key || Object.keys(stamp.inputs ?? {}).length === 0) return false;
  for (const [path, was] of Object.entries(stamp.inputs)) {
    const info = await stat(path).catch(() => undefined);
    if (!info || info.size !== was.size || info.mtimeMs !== was.mtimeMs) return false;
  }
  return true;
}
