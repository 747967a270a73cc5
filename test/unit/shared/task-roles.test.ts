import { describe, expect, it } from 'vitest';
import {
  repositoryRoleHash,
  TaskRoleArnFormat,
  taskRoleArnFormat,
  taskRoleArns,
  taskRoleName,
} from '#shared/task-roles.ts';

const api = { provider: 'github', repository: 'acme/api' } as const;
const format = taskRoleArnFormat({
  partition: 'aws',
  account: '111122223333',
  region: 'eu-west-1',
  stackName: 'Stepline',
});

describe('task roles', () => {
  it('names the same role FetchSource computes and the stack creates', () => {
    const arns = taskRoleArns(format, api);

    expect(arns.runnerTaskRoleArn).toBe(
      `arn:aws:iam::111122223333:role/stepline/${taskRoleName('runner', 'Stepline', api, 'eu-west-1')}`,
    );
    expect(arns.publisherTaskRoleArn).toBe(
      `arn:aws:iam::111122223333:role/stepline/${taskRoleName('publisher', 'Stepline', api, 'eu-west-1')}`,
    );
  });

  it('gives two providers with the same repository name different roles', () => {
    const github = taskRoleArns(format, api);
    const gitea = taskRoleArns(format, { provider: 'gitea', repository: 'acme/api' });

    expect(gitea.runnerTaskRoleArn).not.toBe(github.runnerTaskRoleArn);
    expect(gitea.publisherTaskRoleArn).not.toBe(github.publisherTaskRoleArn);
  });

  it('gives a repository the same roles however the push spells its case', () => {
    expect(repositoryRoleHash({ provider: 'github', repository: 'Acme/API' })).toBe(repositoryRoleHash(api));
  });

  it('gives another stack, or the same stack in another region, other role names', () => {
    expect(taskRoleName('runner', 'Other', api, 'eu-west-1')).not.toBe(
      taskRoleName('runner', 'Stepline', api, 'eu-west-1'),
    );
    expect(taskRoleName('runner', 'Stepline', api, 'us-east-1')).not.toBe(
      taskRoleName('runner', 'Stepline', api, 'eu-west-1'),
    );
  });

  it('keeps role names within IAM’s 64 characters for the longest region names', () => {
    const name = taskRoleName('publisher', 'x'.repeat(128), api, 'ap-southeast-4');

    expect(name.length).toBeLessThanOrEqual(64);
    expect(name).toMatch(/^[\w+=,.@-]+$/);
  });

  it('accepts the stack’s format and a local placeholder, and refuses a format without {kind}', () => {
    expect(TaskRoleArnFormat.safeParse(format).success).toBe(true);
    expect(TaskRoleArnFormat.safeParse('arn:aws:iam::000000000000:role/stepline-local-{kind}').success).toBe(
      true,
    );
    const missing = TaskRoleArnFormat.safeParse('arn:aws:iam::111122223333:role/one-role');
    expect(missing.error?.issues[0]?.message).toBe('expected {kind} in the role ARN format');
    expect(TaskRoleArnFormat.safeParse('role/{kind}').success).toBe(false);
  });
});
