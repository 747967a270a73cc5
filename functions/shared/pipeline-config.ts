import { z } from 'zod';

/** A duration as seconds or as text: `90`, `"90s"`, `"15m"`, `"1h30m"`. Parsed to seconds. */
export const Duration = z
  .union([z.number().int().positive(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value;
    const match = /^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*$/.exec(value);
    const seconds = match
      ? Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)
      : 0;
    if (!match || seconds <= 0) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration like "90s", "15m" or "1h30m", got ${JSON.stringify(value)}`,
      });
      return z.NEVER;
    }
    return seconds;
  })
  .describe('Seconds, or text such as "90s", "15m" or "1h30m".');

const RelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), {
    message: 'expected a path inside the repository (no leading "/", no "..")',
  })
  .describe('A path relative to the repository root (no leading "/", no "..").');

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');

export const CacheConfig = z.strictObject({
  /** Files whose content hashes make the cache key, e.g. lockfiles. */
  key: z
    .array(RelativePath)
    .min(1, 'name at least one file (e.g. package-lock.json) to key the cache')
    .describe('Files whose content hashes make the cache key, e.g. lockfiles.'),
  /** Directories restored before and saved after the commands. */
  paths: z
    .array(RelativePath)
    .min(1, 'name at least one path to cache')
    .describe('Directories restored before and saved after the commands.'),
});
export type CacheConfig = z.infer<typeof CacheConfig>;

const stageFields = {
  /** Shell commands run in order with `sh -c`; the stage fails at the first non-zero exit. */
  commands: z
    .array(z.string().min(1))
    .min(1, 'a stage needs at least one command')
    .describe('Shell commands run in order with `sh -c`; the stage fails at the first non-zero exit.'),
  /** Runner image (Fargate, or podman locally). @default the stack's runner image */
  image: z
    .string()
    .min(1)
    .optional()
    .describe("Runner image. Default: the Stepline deployment's runner image."),
  /** Extra environment for the commands. Never put secrets here: this file is in the repository. */
  env: z
    .record(EnvName, z.string())
    .default({})
    .describe('Extra environment for the commands. Never put secrets here: this file is in the repository.'),
  /** Stage timeout. @default "15m" */
  timeout: Duration.default(900).describe('Stage timeout. Default: "15m".'),
  cache: CacheConfig.optional().describe('Directories kept between runs, keyed by the hash of some files.'),
};

export const BuildStage = z
  .strictObject({
    ...stageFields,
    /** Globs of files handed from build to the later stages. */
    artifacts: z
      .array(RelativePath)
      .default([])
      .describe('Globs of files handed from build to the later stages.'),
  })
  .describe('Builds the service.');
export const TestStage = z
  .strictObject({
    ...stageFields,
    /** JUnit XML report globs, read after the commands. */
    reports: z.array(RelativePath).default([]).describe('JUnit XML report globs, read after the commands.'),
  })
  .describe('Tests the service; runs after build.');

const notHere = (what: string) => {
  const message = `${what} is not allowed in stepline.yml: where a pipeline deploys is set by the Stepline deployment configuration, so that a push cannot redirect a deployment`;
  return z.never({ error: message }).optional().describe(`Not allowed: ${message}.`);
};

/** `stepline.yml` in the pushed repository: how to build and test it. Never where it deploys. */
export const PipelineConfig = z
  .strictObject({
    version: z.literal(1).default(1).describe('Format version. Default: 1.'),
    build: BuildStage,
    test: TestStage,
    /** How the image is built by PublishImage. */
    image: z
      .strictObject({
        /** @default "Dockerfile" */
        dockerfile: RelativePath.default('Dockerfile').describe('Dockerfile path. Default: "Dockerfile".'),
        /** @default "." */
        context: RelativePath.default('.').describe('Build context directory. Default: ".".'),
      })
      .default({ dockerfile: 'Dockerfile', context: '.' })
      .describe('How PublishImage builds the image.'),
    deploy: notHere('deploy'),
    environments: notHere('environments'),
  })
  .describe(
    'stepline.yml: how Stepline builds and tests this repository. Where it deploys is set by the Stepline deployment, never here.',
  );
export type PipelineConfig = z.infer<typeof PipelineConfig>;
export type PipelineConfigInput = z.input<typeof PipelineConfig>;

/** The smallest useful stepline.yml, shown when a repository has none. */
export const minimalPipelineExample = `# stepline.yml
build:
  commands:
    - npm ci
    - npm run build
test:
  commands:
    - npm test
`;
