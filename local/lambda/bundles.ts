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

/**
 * Builds `compute.entry` into `<outDir>/<folder>/index.mjs` (with its source map) unless the bundle
 * there was built from the same sources, options and esbuild; returns the bundle's path.
 */
export async function bundleLambda(compute: LambdaCompute, outDir: string): Promise<string> {
  const dir = join(resolve(outDir), compute.folder);
  const outfile = join(dir, 'index.mjs');
  return buildIfChanged(resolve(repoRoot, compute.entry), outfile, join(dir, 'inputs.json'));
}

/**
 * The worker that hosts one Lambda (local/lambda/bootstrap.ts) as plain JavaScript in
 * `<outDir>/bootstrap.mjs`: a worker thread loads it without a TypeScript loader.
 */
export async function bundleBootstrap(outDir: string): Promise<string> {
  const dir = resolve(outDir);
  return buildIfChanged(bootstrapEntry, join(dir, 'bootstrap.mjs'), join(dir, 'bootstrap.inputs.json'), {
    minify: false,
    mainFields: ['module', 'main'],
  });
}

async function buildIfChanged(
  entry: string,
  outfile: string,
  stampFile: string,
  overrides: Partial<BuildOptions> = {},
): Promise<string> {
  const options = { ...lambdaBuildOptions(entry, outfile), ...overrides };
  const key = createHash('sha256')
    .update(JSON.stringify({ options, esbuild: esbuildVersion }))
    .digest('hex');
  if (await upToDate(stampFile, outfile, key)) return outfile;
  await mkdir(join(outfile, '..'), { recursive: true });
  const result = await build(options);
  const inputs: BuildStamp['inputs'] = {};
  for (const input of Object.keys(result.metafile?.inputs ?? {})) {
    const path = resolve(process.cwd(), input);
    const info = await stat(path).catch(() => undefined);
    if (info) inputs[path] = { size: info.size, mtimeMs: info.mtimeMs };
  }
  await writeFile(stampFile, `${JSON.stringify({ key, inputs } satisfies BuildStamp)}\n`);
  return outfile;
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
