import picomatch from 'picomatch';
import { z } from 'zod';
import { Provider } from './push-event.ts';

/**
 * Where a secret's value comes from. On AWS a deployment names Secrets Manager secrets; the
 * local runtime may also take a literal value or an environment variable. Values never appear
 * in logs or in the synthesized template.
 */
export const SecretRef = z.union([
  z.strictObject({ secretName: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name') }),
  z.strictObject({ value: z.string().min(1) }),
]);
export type SecretRef = z.infer<typeof SecretRef>;

const Glob = z.string().min(1);

/** Which pushes start a run. Globs are picomatch patterns matched against the branch/tag name or path. */
export const TriggerRules = z.strictObject({
  /** @default ["main"] */
  branches: z.array(Glob).default(['main']),
  /** @default [] (tag pushes do not start runs) */
  tags: z.array(Glob).default([]),
  paths: z
    .strictObject({
      /** A push starts a run only if one changed path matches. @default ["**"] */
      include: z.array(Glob).default(['**']),
      /** Changed paths matching these are ignored. @default [] */
      exclude: z.array(Glob).default([]),
    })
    .default({ include: ['**'], exclude: [] }),
});
export type TriggerRules = z.infer<typeof TriggerRules>;

/** An IAM role ARN, as a task definition names its task and execution roles. */
const RoleArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/,
    'expected an IAM role ARN such as arn:aws:iam::123456789012:role/app',
  );

/** One ECS service a pipeline rolls out to. Fixed by the deployment, never by the pushed repo. */
export const EcsTarget = z.strictObject({
  cluster: z.string().min(1),
  service: z.string().min(1),
  /** Container in the task definition whose image is replaced. */
  container: z.string().min(1),
  /** A URL that must answer 2xx once the rollout has completed; else the rollout is rolled back. */
  smokeUrl: z.url().optional(),
  /** Like `smokeUrl`, as a path on the service's URL (e.g. `/healthz`). */
  smokePath: z.string().startsWith('/').optional(),
  /** The service's URL, shown in `stepline run`, the approval email and the console. */
  url: z.url().optional(),
  /** ECS `deploymentConfiguration.minimumHealthyPercent`. @default 100 */
  minimumHealthyPercent: z.number().int().min(0).max(100).default(100),
  /** ECS `deploymentConfiguration.maximumPercent`. @default 200 */
  maximumPercent: z.number().int().min(100).max(200).default(200),
  /** Tasks the service runs; unset keeps the service's own desired count. */
  desiredCount: z.number().int().min(0).optional(),
  /** Seconds a rollout may take before it is rolled back explicitly. @default 900 */
  timeoutSeconds: z.number().int().positive().default(900),
  /**
   * The task role of the service's task definition. On AWS the stack needs it (with
   * `executionRoleArn`) to allow `iam:PassRole` for exactly these roles; locally it is unused.
   */
  taskRoleArn: RoleArn.optional(),
  /** The execution role of the service's task definition (pulls the image, writes logs). See `taskRoleArn`. */
  executionRoleArn: RoleArn.optional(),
});
export type EcsTarget = z.infer<typeof EcsTarget>;

export const environments = ['staging', 'production'] as const;
export const Environment = z.enum(environments);
export type Environment = z.infer<typeof Environment>;

/** An image repository name as ECR and the OCI distribution spec accept it. */
export const ImageRepositoryName = z
  .string()
  .regex(
    /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
    'expected a lowercase image repository name such as "acme/hello-service"',
  );

export const RepositoryConfig = z.strictObject({
  provider: Provider,
  /** `owner/name` as the provider spells it; a picomatch glob such as `acme/*` is allowed locally. */
  name: z.string().min(1),
  webhookSecret: SecretRef,
  /** Token for the provider's archive and commit-status APIs. */
  providerToken: SecretRef.optional(),
  /** Provider API base URL, for self-hosted GitLab, Gitea or Forgejo. */
  apiUrl: z.url().optional(),
  triggers: TriggerRules.default(TriggerRules.parse({})),
  deploy: z
    .strictObject({
      staging: EcsTarget.optional(),
      production: EcsTarget.optional(),
    })
    .optional(),
  /** Where PublishImage pushes this repository's image. @default the repository's `owner/name`, lowercased */
  image: z.strictObject({ repository: ImageRepositoryName }).optional(),
  /** Email addresses asked to approve production rollouts. */
  approvers: z.array(z.email()).default([]),
  /** How long an approval request waits for a decision, 60 s to 7 days. @default 86400 (24 h) */
  approvalTimeoutSeconds: z
    .number()
    .int()
    .min(60)
    // The state machine's own TimeoutSeconds is 8 days: a longer wait would be cut off by it.
    .max(7 * 86400, 'at most 604800 (7 days): an execution may run at most 8 days')
    .default(86400),
});
export type RepositoryConfig = z.infer<typeof RepositoryConfig>;

/**
 * The deployment configuration: one JSON document read by the CDK app and by the local runtime
 * (`stepline.config.json`). It decides which repositories may run and where they deploy.
 */
export const DeploymentConfig = z.strictObject({
  $schema: z.string().optional(),
  repositories: z
    .array(RepositoryConfig)
    .min(1, 'name at least one repository')
    .superRefine((repositories, ctx) => {
      // Every step looks a push's repository up by provider and name: one entry each, or steps could disagree.
      const seen = new Map<string, number>();
      repositories.forEach((repository, index) => {
        const key = `${repository.provider}:${repository.name.toLowerCase()}`;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, index);
        else
          ctx.addIssue({
            code: 'custom',
            path: [index, 'name'],
            message: `repository "${repository.name}" (${repository.provider}) is already configured at repositories[${first}]`,
          });
      });
    }),
  /** Days run artifacts and logs are kept in the artifact bucket. @default 30 */
  artifactRetentionDays: z.number().int().positive().default(30),
  /** Days build caches are kept. @default 14 */
  cacheRetentionDays: z.number().int().positive().default(14),
  /** Emails subscribed to pipeline failure notifications. @default [] */
  notificationEmails: z.array(z.email()).default([]),
  /** The sender of approval and notification emails (an SES-verified identity on AWS). */
  emailFrom: z.email().default('stepline@example.com'),
});
export type DeploymentConfig = z.infer<typeof DeploymentConfig>;

const repositoryMatchers = new Map<string, (fullName: string) => boolean>();

/**
 * Whether a configured repository `name` covers a pushed repository. The name is a picomatch glob
 * over `owner/name` (`acme/*`, `acme/**` for GitLab subgroups); a lone `*` means any repository.
 * Case-insensitive, because the providers treat repository paths so; `dot`, because a repository
 * may be named `.github`.
 */
export function matchesRepository(pattern: string, fullName: string): boolean {
  if (pattern === '*') return true;
  let matcher = repositoryMatchers.get(pattern);
  if (!matcher) {
    matcher = picomatch(pattern, { nocase: true, dot: true });
    repositoryMatchers.set(pattern, matcher);
  }
  return matcher(fullName);
}

/**
 * The deployment's entry for a pushed repository: same provider, and a `name` that
 * {@link matchesRepository covers} it. The first such entry wins, as in the webhook.
 */
export function findRepositoryConfig(
  config: DeploymentConfig,
  provider: Provider,
  fullName: string,
): RepositoryConfig | undefined {
  return config.repositories.find(
    (entry) => entry.provider === provider && matchesRepository(entry.name, fullName),
  );
}

/** The image repository a push of `fullName` publishes to: the configured one, else `owner/name` lowercased. */
export function imageRepositoryFor(entry: RepositoryConfig | undefined, fullName: string): string {
  if (entry?.image) return entry.image.repository;
  const derived = fullName
    .toLowerCase()
    .replace(/[^a-z0-9._/-]+/g, '-')
    .replace(/(^|\/)[._-]+|[._-]+($|\/)/g, '$1$2');
  return ImageRepositoryName.safeParse(derived).success ? derived : 'stepline/unnamed';
}
