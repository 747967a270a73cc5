import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { generateSchema, schemaPath } from '../../../schemas/generate.ts';

describe('schemas/stepline.schema.json', () => {
  it('matches a fresh generation from PipelineConfig (run `npm run schema` after changing the zod schema)', async () => {
    const committed: unknown = JSON.parse(await readFile(schemaPath, 'utf8'));

    expect(committed).toEqual(generateSchema());
  });

  it('forbids the deploy and environments keys', () => {
    const properties = generateSchema().properties as Record<string, { not?: unknown }>;

    expect(properties.deploy?.not).toEqual({});
    expect(properties.environments?.not).toEqual({});
  });
});
