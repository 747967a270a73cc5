import { globMatcher } from './glob.ts';
import { Provider } from './provider.ts';
import {
  defaultTriggerRules,
  Glob,
  matchesRepository,
  RepositoryName,
  SecretRef,
  TriggerRules,
} from './webhook-config.ts';
import * as z from './zod-mini.ts';

/** Defined with what the webhook reads (#shared/webhook-config.ts); part of the deployment config. */
export { matchesRepository, SecretRef, TriggerRules };

/** An IAM role ARN, as a task definition names its task and execution roles. */
const RoleArn = z
  .string()
  .check(
    z.regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/,
      'expected an IAM role ARN such as arn:aws:iam::123456789012:role/app',
    ),
  );

const NonEmpty = z.string().check(z.minLength(1));
/** A whole number from `min` to `max` (`z.number().int().min(min).max(max)`). */
const integer = (min: number, max?: number, maxMessage?: string) =>
  z
    .number()
    .check(
      z.int(),
      z.minimum(min),
      ...(max === undefined ? [] : [maxMessage === undefined ? z.maximum(max) : z.maximum(max, maxMessage)]),
    );
const Url = z.url();
const Email = z.email();
/** `z.number().int().positive()` */
const Positive = z.number().check(z.int(), z.positive());

/** One ECS service a pipeline rolls out to. Fixed by the deployment, never by the pushed repo. */
export const EcsTarget = z.strictObject({
  cluster: NonEmpty,
  service: NonEmpty,
  /** Container in the task definition whose image is replaced. */
  container: NonEmpty,
  /** A URL that must answer 2xx once the rollout has completed; else the rollout is rolled back. */
  smokeUrl: z.optional(Url),
  /** Like `smokeUrl`, as a path on the service's URL (e.g. `/healthz`). */
  smokePath: z.optional(z.string().check(z.startsWith('/'))),
  /** The service's URL, shown in `stepline run`, the approval email and the console. */
  url: z.optional(Url),
  /** ECS `deploymentConfiguration.minimumHealthyPercent`. @default 100 */
  minimumHealthyPercent: z._default(integer(0, 100), 100),
  /** ECS `deploymentConfiguration.maximumPercent`. @default 200 */
  maximumPercent: z._default(integer(100, 200), 200),
  /** Tasks the service runs; unset keeps the service's own desired count. */
  desiredCount: z.optional(integer(0)),
  /** Seconds a rollout may take before it is rolled back explicitly. @default 900 */
  timeoutSeconds: z._default(Positive, 900),
  /**
   * The task role of the service's task definition. On AWS the stack needs it (with
   * `executionRoleArn`) to allow `iam:PassRole` for exactly these roles; locally it is unused.
   */
  taskRoleArn: z.optional(RoleArn),
  /** The execution role of the service's task definition (pulls the image, writes logs). See `taskRoleArn`. */
  executionRoleArn: z.optional(RoleArn),
});
export type EcsTarget = z.infer<typeof EcsTarget>;

export const environments = ['staging', 'production'] as const;
export const Environment = z.enum(environments);
export type Environment = z.infer<typeof Environment>;

/** An image repository name as ECR and the OCI distribution spec accept it. */
export const ImageRepositoryName = z
  .string()
  .check(
    z.regex(
      /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/,
      'expected a lowercase image repository name such as "acme/hello-service"',
    ),
  );

/**
 * What a newer push of a branch does to the runs of that branch already under way:
 * `superseded` (the older ones end as superseded at their next checkpoint, unless they are past their
 * last deployment), `queued` (the newer one waits until the older ones have ended), `parallel`
 * (nothing: every push runs on its own). See docs/aws.md, "Execution modes at scale".
 */
export const executionModes = ['superseded', 'queued', 'parallel'] as const;
export const ExecutionMode = z.enum(executionModes);
export type ExecutionMode = z.infer<typeof ExecutionMode>;

/** `executionMode`: one mode for every branch, or branch globs to modes (the first glob that matches wins). */
export const ExecutionModeSetting = z.union([ExecutionMode, z.record(Glob, ExecutionMode)], {
  error: (issue) =>
    `expected "superseded", "queued" or "parallel", or an object of branch globs to one of them (such as {"release/*": "queued"}), got ${JSON.stringify(issue.input)}`,
});
export type ExecutionModeSetting = z.infer<typeof ExecutionModeSetting>;

export const RepositoryConfig = z.strictObject({
  provider: Provider,
  /** `owner/name` as the provider spells it; a picomatch glob such as `acme/*` is allowed locally. */
  name: RepositoryName,
  webhookSecret: SecretRef,
  /** Token for the provider's archive and commit-status APIs. */
  providerToken: z.optional(SecretRef),
  /** Provider API base URL, for self-hosted GitLab, Gitea or Forgejo. */
  apiUrl: z.optional(Url),
  triggers: z._default(TriggerRules, defaultTriggerRules()),
  deploy: z.optional(
    z.strictObject({
      staging: z.optional(EcsTarget),
      production: z.optional(EcsTarget),
    }),
  ),
  /** Where PublishImage pushes this repository's image. @default the repository's `owner/name`, lowercased */
  image: z.optional(z.strictObject({ repository: ImageRepositoryName })),
  /**
   * How a newer push of a branch treats that branch's runs under way: one mode, or branch globs to modes
   * (`{"main": "superseded", "release/*": "queued"}`; the first match wins, other branches get the default).
   * @default "superseded" for a repository with a deploy target, else "parallel"; tag pushes always run `parallel`
   */
  executionMode: z.optional(ExecutionModeSetting),
  /** Email addresses asked to approve production rollouts. */
  approvers: z._default(z.array(Email), []),
  /** How long an approval request waits for a decision, 60 s to 7 days. @default 86400 (24 h) */
  approvalTimeoutSeconds: z._default(
    // The state machine's own TimeoutSeconds is 8 days: a longer wait would be cut off by it.
    integer(60, 7 * 86400, 'at most 604800 (7 days): an execution may run at most 8 days'),
    86400,
  ),
});
export type RepositoryConfig = z.infer<typeof RepositoryConfig>;

/**
 * The deployment configuration: one JSON document read by the CDK app and by the local runtime
 * (`stepline.config.json`). It decides which repositories may run and where they deploy.
 */
export const DeploymentConfig = z.strictObject({
  $schema: z.optional(z.string()),
  repositories: z.array(RepositoryConfig).check(
    z.minLength(1, 'name at least one repository'),
    z.superRefine((repositories, ctx) => {
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
  ),
  /** Days run artifacts and logs are kept in the artifact bucket. @default 30 */
  artifactRetentionDays: z._default(Positive, 30),
  /** Days build caches are kept. @default 14 */
  cacheRetentionDays: z._default(Positive, 14),
  /** Emails subscribed to pipeline failure notifications. @default [] */
  notificationEmails: z._default(z.array(Email), []),
  /** The sender of approval and notification emails (an SES-verified identity on AWS). */
  emailFrom: z._default(Email, 'stepline@example.com'),
});
export type DeploymentConfig = z.infer<typeof DeploymentConfig>;

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

/**
 * The execution mode of a push of `ref` to the repository `entry` configures (see `executionMode`).
 * A tag is pushed once, so its runs have nothing to supersede or wait for: always `parallel`.
 */
export function executionModeFor(
  entry: Pick<RepositoryConfig, 'executionMode' | 'deploy'> | undefined,
  ref: { refType: 'branch' | 'tag'; refName: string },
): ExecutionMode {
  if (ref.refType !== 'branch') return 'parallel';
  const setting = entry?.executionMode;
  if (typeof setting === 'string') return setting;
  if (setting) {
    for (const [glob, mode] of Object.entries(setting)) {
      if (globMatcher(glob)(ref.refName)) return mode;
    }
  }
  return entry?.deploy?.staging || entry?.deploy?.production ? 'superseded' : 'parallel';
}
