import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { RepositoryRef } from './object-keys.ts';

/**
 * Which IAM role a push's Build/Test (runner) and PublishImage (publisher) tasks run as. The CDK
 * stack makes two roles per configured repository, named by {@link taskRoleName}; FetchSource
 * computes the same names from {@link TaskRoleArnFormat} and puts the ARNs into `$.source.deployment`,
 * and the state machine passes them to RunTask as `Overrides.TaskRoleArn`.
 *
 * Names rather than a map from repository to ARN: a Lambda's environment holds 4 KB in all and
 * STEPLINE_CONFIG already takes up to 3 KB of FetchSource's, so a map (about 200 bytes per
 * repository) would cap a stack at a handful of repositories; a format is one short string.
 */
export const taskRoleKinds = ['runner', 'publisher'] as const;
export type TaskRoleKind = (typeof taskRoleKinds)[number];

/** IAM path of every per-repository task role (`aws iam list-roles --path-prefix /stepline/`). */
export const taskRolePath = '/stepline/';

/**
 * `arn:<partition>:iam::<account>:role/<path><name>` with `{kind}` (runner or publisher) and
 * `{repository}` (see {@link repositoryRoleHash}) left for FetchSource to fill in. The stack writes
 * it with its own name's hash and region; the local runtime uses a placeholder without `{repository}`.
 */
export const TaskRoleArnFormat = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:iam::\d{12}:role\/[A-Za-z0-9+=,.@_/{}-]+$/,
    'expected an IAM role ARN format such as arn:aws:iam::123456789012:role/stepline/stepline-{kind}-{repository}',
  )
  .refine((format) => format.includes('{kind}'), 'expected {kind} in the role ARN format');

/** What FetchSource adds to `$.source.deployment` for the state machine's RunTask overrides. */
export interface TaskRoleArns {
  runnerTaskRoleArn: string;
  publisherTaskRoleArn: string;
}

/**
 * 12 hex digits naming one repository among a stack's roles: SHA-256 of `<provider>:<repository>`
 * with the repository lowercased (the providers treat repository paths case-insensitively).
 */
export function repositoryRoleHash(ref: RepositoryRef): string {
  return createHash('sha256')
    .update(`${ref.provider}:${ref.repository.toLowerCase()}`)
    .digest('hex')
    .slice(0, 12);
}

/** 8 hex digits naming a stack among the stacks of one account and region. */
export function stackRoleHash(stackName: string): string {
  return createHash('sha256').update(stackName).digest('hex').slice(0, 8);
}

/**
 * `stepline-<kind>-<stack hash>-<repository hash>-<region>`: unique per stack, region and
 * repository (IAM role names are account-wide), at most 19 + 8 + 1 + 12 + 1 + region ≤ 64 characters.
 * `region` may be a CDK token.
 */
export function taskRoleName(
  kind: TaskRoleKind,
  stackName: string,
  ref: RepositoryRef,
  region: string,
): string {
  return `stepline-${kind}-${stackRoleHash(stackName)}-${repositoryRoleHash(ref)}-${region}`;
}

/** The format the stack gives FetchSource: {@link taskRoleName} with `{kind}` and `{repository}` open. */
export function taskRoleArnFormat(options: {
  partition: string;
  account: string;
  region: string;
  stackName: string;
}): string {
  const { partition, account, region, stackName } = options;
  return `arn:${partition}:iam::${account}:role${taskRolePath}stepline-{kind}-${stackRoleHash(stackName)}-{repository}-${region}`;
}

/** Both role ARNs of a push's repository, from the format. */
export function taskRoleArns(format: string, ref: RepositoryRef): TaskRoleArns {
  const fill = (kind: TaskRoleKind) =>
    format.replaceAll('{kind}', kind).replaceAll('{repository}', repositoryRoleHash(ref));
  return { runnerTaskRoleArn: fill('runner'), publisherTaskRoleArn: fill('publisher') };
}
