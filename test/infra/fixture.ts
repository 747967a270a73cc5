import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { expect } from 'vitest';
import { type DeploymentConfigInput, parseAwsDeploymentConfig } from '#infra/config.ts';
import { cdkJsonContext } from '#infra/context.ts';
import { DemoStack } from '#infra/demo-stack.ts';
import { PipelineStack } from '#infra/pipeline-stack.ts';

/** The deployment config every infra test synthesizes: two repositories, one of them deploying. */
export const config: DeploymentConfigInput = {
  repositories: [
    {
      provider: 'github',
      name: 'acme/api',
      webhookSecret: { secretName: 'stepline/acme/api/webhook' },
      providerToken: { secretName: 'stepline/github/token' },
      deploy: {
        staging: {
          cluster: 'apps',
          service: 'api-staging',
          container: 'app',
          taskRoleArn: 'arn:aws:iam::111122223333:role/api-staging-task',
          executionRoleArn: 'arn:aws:iam::111122223333:role/api-staging-execution',
        },
        production: {
          cluster: 'arn:aws:ecs:eu-west-1:111122223333:cluster/apps-prod',
          service: 'api',
          container: 'app',
          taskRoleArn: 'arn:aws:iam::111122223333:role/api-task',
          executionRoleArn: 'arn:aws:iam::111122223333:role/api-execution',
        },
      },
      approvers: ['lead@example.com'],
    },
    {
      provider: 'gitlab',
      name: 'group/web',
      webhookSecret: { secretName: 'stepline/group/web/webhook' },
      providerToken: { secretName: 'stepline/gitlab/token' },
      image: { repository: 'web/frontend' },
    },
  ],
  artifactRetentionDays: 30,
  cacheRetentionDays: 7,
  notificationEmails: ['team@example.com'],
  emailFrom: 'releases@mail.acme.example',
};

export type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
};

/** One synthesis shared by every infra test in this worker: the pipeline and the demo stack in one app. */
export interface Synthesized {
  readonly app: App;
  readonly stack: PipelineStack;
  readonly demo: DemoStack;
  /**
   * The pipeline with the other choices: secrets and ECR repositories imported, bases through an
   * ECR pull-through cache, SES sandbox recipients allowed.
   */
  readonly variant: PipelineStack;
  readonly template: Template;
  readonly demoTemplate: Template;
  readonly variantTemplate: Template;
  /** The cloud assembly directory (the templates cfn-lint reads). */
  readonly directory: string;
  /** Seconds the synthesis took. */
  readonly seconds: number;
}

let synthesized: Synthesized | undefined;

/**
 * Synthesizes the app once (bundling off, the feature flags of cdk.json on, as `cdk deploy` has them)
 * and returns the same result to every caller.
 */
export function synth(): Synthesized {
  if (synthesized !== undefined) return synthesized;
  const started = performance.now();
  const outdir = mkdtempSync(join(tmpdir(), 'stepline-infra-'));
  const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new PipelineStack(app, 'Stepline', { pipeline: { config } });
  const demo = new DemoStack(app, 'SteplineDemo', {
    imageRepositories: parseAwsDeploymentConfig(config).imageRepositories,
  });
  const variant = new PipelineStack(app, 'SteplineVariant', {
    pipeline: {
      config,
      importExistingSecrets: true,
      importExistingImageRepositories: true,
      baseImages: { pullThroughCachePrefix: 'ecr-public' },
      sesSandboxRecipients: true,
    },
  });
  const assembly = app.synth();
  synthesized = {
    app,
    stack,
    demo,
    variant,
    template: Template.fromStack(stack),
    demoTemplate: Template.fromStack(demo),
    variantTemplate: Template.fromStack(variant),
    directory: assembly.directory,
    seconds: (performance.now() - started) / 1000,
  };
  return synthesized;
}

/** Logical id of a construct's CloudFormation resource. */
export function logicalId(construct: IConstruct, stack: Stack = synth().stack): string {
  const resource = (construct.node.defaultChild ?? construct) as CfnElement;
  return stack.getLogicalId(resource);
}

/** Every statement of the policies attached to a role. */
export function statementsOf(role: IConstruct, stack: Stack = synth().stack): Statement[] {
  const template = Template.fromStack(stack);
  const roleId = logicalId(role, stack);
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
        .Statement,
  );
}

/** The statement `sid` of a role's policies; throws naming the role when there is none. */
export function statement(role: IConstruct, sid: string, stack: Stack = synth().stack): Statement {
  const found = statementsOf(role, stack).find((s) => s.Sid === sid);
  if (found === undefined) throw new Error(`no statement ${sid} on ${role.node.path}`);
  return found;
}

/**
 * The actions or resources of an IAM statement: a set. With the `@aws-cdk/aws-iam:minimizePolicies`
 * feature flag CDK writes them sorted, not in the order the code adds them, so `toEqual` compares
 * them as sets (see the equality tester below); index into them only after sorting.
 */
export class Unordered<T> extends Array<T> {}

expect.addEqualityTesters([
  function unorderedEquals(a, b, testers) {
    if (!(a instanceof Unordered) && !(b instanceof Unordered)) return undefined;
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    const rest: unknown[] = [...b];
    for (const item of a) {
      const index = rest.findIndex((other) => this.equals(item, other, testers));
      if (index < 0) return false;
      rest.splice(index, 1);
    }
    return true;
  },
]);

export function actions(s: Statement): string[] {
  return Unordered.from(Array.isArray(s.Action) ? s.Action : [s.Action]);
}

export function resources(s: Statement): unknown[] {
  return Unordered.from(Array.isArray(s.Resource) ? s.Resource : [s.Resource]);
}
