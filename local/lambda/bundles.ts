import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';
import { buildKey, upToDate, writeStamp } from '#local/build-stamp.ts';
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

const bundlePath = (outDir: string, compute: LambdaCompute) =>
  join(resolve(outDir), compute.folder, 'index.mjs');
const stampPath = (outDir: string, compute: LambdaCompute) =>
  join(resolve(outDir), compute.folder, 'inputs.json');

/** The options every bundle shares, hashed into each stamp. */
const sharedKey = () => buildKey(lambdaBuildOptions('', ''));

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
      await writeStamp(stampPath(outDir, compute), key, Object.keys(output?.inputs ?? {}), repoRoot);
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
  const key = buildKey(options);
  if (await upToDate(stampFile, outfile, key)) return outfile;
  const result = await build(options);
  await writeStamp(stampFile, key, Object.keys(result.metafile?.inputs ?? {}), repoRoot);
  return outfile;
}
