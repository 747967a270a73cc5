import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const appDir = fileURLToPath(new URL('../../console/', import.meta.url));

/** The console's static files, kept in memory: path → body and content type. */
export interface ConsoleAssets {
  dir: string;
  files: Map<string, { body: Buffer; type: string }>;
  /** Bytes of each built file, and gzip is not applied (loopback). */
  sizes: Record<string, number>;
}

/**
 * Builds the console's browser app (console/src/main.ts and its CSS) with esbuild into
 * `<outDir>` (`<data>/runtime/console`): one minified script and one stylesheet, with preact and
 * htm inside, and the page that loads them. Nothing is fetched from anywhere else, so the console
 * works offline.
 */
export async function buildConsoleAssets(outDir: string): Promise<ConsoleAssets> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { app: join(appDir, 'src', 'main.ts') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome100', 'firefox100', 'safari15'],
    outdir: outDir,
    logLevel: 'error',
    legalComments: 'none',
    charset: 'utf8',
  });
  const files = new Map<string, { body: Buffer; type: string }>();
  const html = await readFile(join(appDir, 'index.html'));
  files.set('/index.html', { body: html, type: 'text/html; charset=utf-8' });
  files.set('/assets/app.js', {
    body: await readFile(join(outDir, 'app.js')),
    type: 'text/javascript; charset=utf-8',
  });
  files.set('/assets/app.css', {
    body: await readFile(join(outDir, 'app.css')),
    type: 'text/css; charset=utf-8',
  });
  files.set('/assets/favicon.svg', {
    body: await readFile(join(appDir, 'favicon.svg')),
    type: 'image/svg+xml',
  });
  const sizes: Record<string, number> = {};
  for (const [path, file] of files) sizes[path] = file.body.length;
  return { dir: outDir, files, sizes };
}
