import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  checkPipelineConfig,
  missingPipelineConfigMessage,
  pipelineConfigFileNames,
} from '#functions/fetch-source/read-pipeline-config.ts';

export interface ValidationReport {
  /** True when the file exists and every field is valid. */
  ok: boolean;
  /** The file that was checked, or the first name looked for when none exists. */
  file: string;
  /** One line per problem: `build.commands[2]: expected string, received number (line 5)`. */
  problems: string[];
}

/**
 * Checks the stepline.yml (or stepline.yaml) in `dir` exactly as FetchSource will after a push.
 * `stepline validate [DIR]` prints the problems and exits 2 when there are any.
 */
export async function validateDirectory(dir: string): Promise<ValidationReport> {
  const root = resolve(dir);
  const found: string[] = [];
  let text: string | undefined;
  for (const name of pipelineConfigFileNames) {
    try {
      const content = await readFile(join(root, name), 'utf8');
      found.push(name);
      text ??= content;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  const [first] = found;
  if (first === undefined || text === undefined) {
    return {
      ok: false,
      file: join(root, pipelineConfigFileNames[0]),
      problems: [missingPipelineConfigMessage(root)],
    };
  }
  const file = join(root, first);
  if (found.length > 1) {
    return {
      ok: false,
      file,
      problems: [`both ${found.join(' and ')} exist in ${root}; keep only one`],
    };
  }
  const check = checkPipelineConfig(text, first);
  return check.ok ? { ok: true, file, problems: [] } : { ok: false, file, problems: check.problems };
}
