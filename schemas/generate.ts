import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { PipelineConfig } from '#shared/pipeline-config.ts';

/** Where the committed JSON Schema for stepline.yml lives. */
export const schemaPath = fileURLToPath(new URL('./stepline.schema.json', import.meta.url));

/**
 * The JSON Schema of stepline.yml, generated from the zod `PipelineConfig` (input side: what a
 * person writes, before defaults are filled in). Editors use it through
 * `# yaml-language-server: $schema=…/stepline.schema.json`.
 */
export function generateSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(PipelineConfig, { io: 'input', target: 'draft-2020-12' });
  return { $schema, title: 'stepline.yml', ...rest };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(schemaPath, `${JSON.stringify(generateSchema(), null, 2)}\n`);
  // Formatted as Biome would, so `biome ci` passes on the committed file.
  const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  execFileSync(process.execPath, [biome, 'format', '--write', schemaPath], { stdio: 'ignore' });
  console.log(`wrote ${schemaPath}`);
}
