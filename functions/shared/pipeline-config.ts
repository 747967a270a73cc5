import * as z from 'zod';
import { parseImageReference } from './oci/reference.ts';

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

/** A reference such as `node:22-slim` or `public.ecr.aws/docker/library/node:22-slim@sha256:…`. */
const ImageReferenceText = z
  .string()
  .min(1)
  .superRefine((text, ctx) => {
    try {
      parseImageReference(text, 'registry.invalid');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

const ImagePath = z
  .string()
  .regex(/^\//, 'expected an absolute path in the image, such as "/app"')
  .refine((p) => !p.split('/').includes('..'), { message: 'expected a path without ".."' });

/** Labels Stepline writes itself from the commit; a stepline.yml cannot set them. */
export const reservedImageLabels = [
  'org.opencontainers.image.revision',
  'org.opencontainers.image.source',
  'org.opencontainers.image.created',
] as const;

export const DockerfileBuild = z
  .strictObject({
    /** @default "Dockerfile" */
    path: RelativePath.default('Dockerfile').describe('Dockerfile path. Default: "Dockerfile".'),
    /** @default "." */
    context: RelativePath.default('.').describe('Build context directory. Default: ".".'),
    target: z.string().min(1).optional().describe('Build stage to stop at (`--target`).'),
    buildArgs: z
      .record(EnvName, z.string())
      .default({})
      .describe('`--build-arg` values. Never put secrets here: this file is in the repository.'),
  })
  .describe('Build the Dockerfile with buildah (unprivileged, no Docker daemon).');

/** Fields that belong to the layers mode (`base`) only. */
const layersOnly = ['files', 'workdir', 'entrypoint', 'cmd', 'env', 'user', 'ports'] as const;

/**
 * `image:` in stepline.yml. Exactly one of `base` (the build artifacts become one layer on a base
 * image; no builder) or `dockerfile` (buildah). Where the image is pushed is the Stepline
 * deployment's decision, never this file's.
 */
export const ImageSection = z
  .strictObject({
    base: ImageReferenceText.optional().describe(
      'Base image, e.g. "node:22-slim" (a short name resolves to the deployment\'s base registry) or a full reference.',
    ),
    files: z
      .array(RelativePath)
      .min(1, 'name at least one glob, or leave files out to use build.artifacts')
      .optional()
      .describe('Globs of files (source or build artifacts) placed under workdir. Default: build.artifacts.'),
    workdir: ImagePath.optional().describe('Where the files go and the working directory. Default: "/app".'),
    entrypoint: z.array(z.string()).optional().describe("ENTRYPOINT. Default: the base image's."),
    cmd: z.array(z.string()).optional().describe("CMD. Default: the base image's."),
    env: z
      .record(EnvName, z.string())
      .optional()
      .describe(
        "Environment added to the base image's. Never put secrets here: this file is in the repository.",
      ),
    user: z
      .string()
      .min(1)
      .optional()
      .describe("User (name or uid[:gid]) the container runs as. Default: the base image's."),
    ports: z
      .array(
        z
          .number()
          .int({ error: (issue) => `expected a whole port number, got ${String(issue.input)}` })
          .min(1, { error: (issue) => `expected a TCP port from 1 to 65535, got ${String(issue.input)}` })
          .max(65535, {
            error: (issue) => `expected a TCP port from 1 to 65535, got ${String(issue.input)}`,
          }),
      )
      .optional()
      .describe('TCP ports the service listens on (EXPOSE).'),
    labels: z
      .record(
        z
          .string()
          .min(1)
          .refine((k) => !(reservedImageLabels as readonly string[]).includes(k), {
            message: 'set by Stepline from the commit',
          }),
        z.string(),
      )
      .optional()
      .describe('Image labels, added to the revision, source and created labels Stepline sets.'),
    dockerfile: DockerfileBuild.optional(),
  })
  .superRefine((image, ctx) => {
    if (image.base === undefined && image.dockerfile === undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          'set either "base" (the build artifacts become a layer on that image) or "dockerfile" (built with buildah)',
      });
    }
    if (image.base !== undefined && image.dockerfile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['dockerfile'],
        message: '"base" and "dockerfile" cannot both be set: choose layers on a base image or a Dockerfile',
      });
    }
    if (image.dockerfile !== undefined) {
      for (const key of layersOnly) {
        if (image[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `only with "base": with "dockerfile" the Dockerfile decides ${key}`,
          });
        }
      }
    }
  })
  .describe('How PublishImage makes the image.');
export type ImageSection = z.infer<typeof ImageSection>;

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
    image: ImageSection.optional().describe(
      'How PublishImage makes the image: layers on a base image (`base`) or a Dockerfile built with buildah (`dockerfile`).',
    ),
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

/** Shown when PublishImage runs for a stepline.yml without an `image:` section. */
export const minimalImageExample = `# stepline.yml (add to build and test)
image:
  base: node:22-slim
  files: [dist/**, package.json]
  cmd: [node, dist/server.js]
  ports: [8080]
`;
