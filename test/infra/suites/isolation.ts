import type { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import {
  artifactsKey,
  cacheKey,
  cacheScope,
  configKey,
  logKey,
  type RepositoryRef,
  sourceKey,
} from '#shared/object-keys.ts';
import { taskRoleArns } from '#shared/task-roles.ts';
import { readDefinition } from '#state-machines/pipeline.ts';
import { logicalId, resources, type Statement, statementsOf, synth } from '../fixture.ts';

// Issue 10, finding 4: one runner role for every repository let any push reach every repository's
// sources and caches. Each configured repository now has its own runner and publisher role.

const account = '111122223333';
const region = 'eu-west-1';

/** A template value with the pseudo parameters filled in (Fn::Join, Ref, Fn::GetAtt as `<Id.Attr>`). */
function evaluate(node: unknown): string {
  if (typeof node === 'string') return node;
  const object = node as Record<string, unknown>;
  if (Array.isArray(object['Fn::Join'])) {
    const [delimiter, items] = object['Fn::Join'] as [string, unknown[]];
    return items.map(evaluate).join(delimiter);
  }
  if ('Ref' in object) {
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::AccountId': account,
      'AWS::Region': region,
      'AWS::URLSuffix': 'amazonaws.com',
    };
    return pseudo[object.Ref as string] ?? `<${String(object.Ref)}>`;
  }
  if (Array.isArray(object['Fn::GetAtt'])) {
    const [id, attribute] = object['Fn::GetAtt'] as [string, string];
    return `<${id}.${attribute}>`;
  }
  throw new Error(`cannot evaluate ${JSON.stringify(node)}`);
}

/** IAM's wildcard match: `*` any run of characters, `?` one character. */
function iamMatches(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(value);
}

/** Every key a run of `repository` reads or writes, as FetchSource and the runner build them. */
function keysOf(repository: RepositoryRef): string[] {
  const run = { ...repository, run: 'github-delivery-1' };
  const main = cacheScope('branch', 'main');
  return [
    sourceKey(run),
    configKey(run),
    logKey(run, 'build'),
    logKey(run, 'publish'),
    artifactsKey(run),
    cacheKey(repository, main, 'build', 'k'.repeat(64)),
    cacheKey(repository, cacheScope('branch', 'feature/x'), 'test', 'k'.repeat(64)),
  ];
}

/** The object ARNs (`<Bucket.Arn>/<key pattern>`) a role may get or put. */
function objectPatterns(role: Parameters<typeof statementsOf>[0], stack: Stack): string[] {
  return statementsOf(role, stack)
    .filter((s: Statement) => [s.Action].flat().some((a) => a === 's3:GetObject' || a === 's3:PutObject'))
    .flatMap((s) => resources(s).map(evaluate));
}

describe('isolation between repositories (issue 10, finding 4)', () => {
  const bucketArn = () => {
    const { stack } = synth();
    return `<${logicalId(stack.pipeline.artifactBucket)}.Arn>`;
  };

  it('makes one runner and one publisher role per configured repository, under /stepline/', () => {
    const { stack, template } = synth();
    const roles = [...stack.pipeline.repositoryTaskRoles.values()];
    expect(roles.map((r) => `${r.repository.provider}:${r.repository.repository}`)).toEqual([
      'github:acme/api',
      'gitlab:group/web',
    ]);
    const stepline = Object.values(template.findResources('AWS::IAM::Role')).filter(
      (r) => (r as { Properties: { Path?: string } }).Properties.Path === '/stepline/',
    );
    expect(stepline).toHaveLength(2 * roles.length);
  });

  it('lets each role get and put exactly the keys of its own repository, and none of another', () => {
    const { stack } = synth();
    const all = [...stack.pipeline.repositoryTaskRoles.values()];
    for (const own of all) {
      const runner = objectPatterns(own.runner, stack);
      const publisher = objectPatterns(own.publisher, stack);
      for (const key of keysOf(own.repository)) {
        expect(
          runner.some((p) => iamMatches(p, `${bucketArn()}/${key}`)),
          `runner of ${own.repository.repository}: ${key}`,
        ).toBe(true);
      }
      for (const key of keysOf(own.repository).filter((k) => k.startsWith('runs/'))) {
        expect(publisher.some((p) => iamMatches(p, `${bucketArn()}/${key}`))).toBe(true);
      }
      expect(publisher.some((p) => p.includes('/caches/'))).toBe(false);
      for (const other of all.filter((o) => o !== own)) {
        for (const key of keysOf(other.repository)) {
          const reachable = [...runner, ...publisher].filter((p) => iamMatches(p, `${bucketArn()}/${key}`));
          expect(reachable, `${own.repository.repository} reaching ${key}`).toEqual([]);
        }
      }
    }
  });

  it('keeps a repository of another provider with the same name out of reach', () => {
    const { stack } = synth();
    const api = stack.pipeline.repositoryTaskRoles.get('github:acme/api')!;
    const patterns = [...objectPatterns(api.runner, stack), ...objectPatterns(api.publisher, stack)];
    for (const key of keysOf({ provider: 'gitea', repository: 'acme/api' })) {
      expect(patterns.filter((p) => iamMatches(p, `${bucketArn()}/${key}`))).toEqual([]);
    }
  });

  it('names each role as FetchSource does from the TASK_ROLE_ARN_FORMAT it is given', () => {
    const { stack, template } = synth();
    const fetchSource = template.toJSON().Resources[logicalId(stack.pipeline.functions.fetchSource.function)];
    const format = evaluate(fetchSource.Properties.Environment.Variables.TASK_ROLE_ARN_FORMAT);
    for (const roles of stack.pipeline.repositoryTaskRoles.values()) {
      const name = (kind: 'runner' | 'publisher') =>
        evaluate(template.toJSON().Resources[logicalId(roles[kind])].Properties.RoleName);
      expect(taskRoleArns(format, roles.repository)).toEqual({
        runnerTaskRoleArn: `arn:aws:iam::${account}:role/stepline/${name('runner')}`,
        publisherTaskRoleArn: `arn:aws:iam::${account}:role/stepline/${name('publisher')}`,
      });
      expect(name('runner').length).toBeLessThanOrEqual(64);
    }
  });

  it('lets only ECS tasks of this account and region assume a repository role', () => {
    const { stack, template } = synth();
    const roles = stack.pipeline.repositoryTaskRoles.get('github:acme/api')!;
    const trust = template.toJSON().Resources[logicalId(roles.runner)].Properties.AssumeRolePolicyDocument;
    expect(trust.Statement).toHaveLength(1);
    const [statement] = trust.Statement;
    expect(statement.Principal).toEqual({ Service: 'ecs-tasks.amazonaws.com' });
    expect(statement.Condition.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    expect(evaluate(statement.Condition.ArnLike['aws:SourceArn'])).toBe(`arn:aws:ecs:${region}:${account}:*`);
  });

  it('leaves the task definitions’ own task roles without any permission', () => {
    const { stack } = synth();
    for (const td of [stack.pipeline.runnerTaskDefinition, stack.pipeline.publisherTaskDefinition]) {
      expect(statementsOf(td.taskRole)).toEqual([]);
    }
  });

  it('runs Build and Test as the runner role and PublishImage as the publisher role FetchSource names', () => {
    const definition = JSON.parse(readDefinition()) as {
      States: Record<string, { Parameters: { Overrides: Record<string, unknown> } }>;
    };
    const override = (state: string) => definition.States[state]!.Parameters.Overrides['TaskRoleArn.$'];
    expect(override('Build')).toBe('$.source.deployment.runnerTaskRoleArn');
    expect(override('Test')).toBe('$.source.deployment.runnerTaskRoleArn');
    expect(override('PublishImage')).toBe('$.source.deployment.publisherTaskRoleArn');
  });

  it('runs an init process as PID 1 in the runner and publisher containers, so orphans are reaped', () => {
    const { stack, template } = synth();
    for (const td of [stack.pipeline.runnerTaskDefinition, stack.pipeline.publisherTaskDefinition]) {
      const [container] = template.toJSON().Resources[logicalId(td)].Properties.ContainerDefinitions;
      expect(container.LinuxParameters).toMatchObject({ InitProcessEnabled: true });
    }
  });
});
