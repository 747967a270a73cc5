import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { type DeploymentConfigInput, placeSecrets } from '#infra/config.ts';
import { cdkJsonContext } from '#infra/context.ts';
import { demoServiceNames } from '#infra/demo-stack.ts';
import { referencedLogicalIds } from '#infra/dependencies.ts';
import { PipelineStack, type PipelineStackProps } from '#infra/pipeline-stack.ts';
import { buildApp } from '#infra/stepline-app.ts';
import { taskDefinitionFamily } from '#infra/stepline-pipeline.ts';
import { readDefinition } from '#state-machines/pipeline.ts';
import {
  actions,
  config,
  logicalId,
  resources,
  type Statement,
  statement,
  statementsOf,
  synth,
} from '../fixture.ts';

const require = createRequire(import.meta.url);

interface CfnResourceJson {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string[];
}

describe('CDK feature flags (issue 10)', () => {
  it('sets every feature flag the pinned aws-cdk-lib recommends, with the recommended value, in cdk.json', () => {
    const recommended = JSON.parse(
      readFileSync(require.resolve('aws-cdk-lib/recommended-feature-flags.json'), 'utf8'),
    ) as Record<string, unknown>;
    const context = cdkJsonContext();

    expect(Object.keys(recommended).length).toBeGreaterThan(80);
    for (const [flag, value] of Object.entries(recommended)) expect(context[flag], flag).toEqual(value);
  });

  it('keeps the demo services’ ECS deployment controller explicit, so the flags replace no named service', () => {
    const { demoTemplate } = synth();
    for (const name of Object.values(demoServiceNames)) {
      demoTemplate.hasResourceProperties('AWS::ECS::Service', {
        ServiceName: name,
        DeploymentController: { Type: 'ECS' },
      });
    }
  });
});

interface AslState {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
}

/** The Task states of the pipeline definition, by name. */
function taskStates(): [string, AslState][] {
  const asl = JSON.parse(readDefinition()) as { States: Record<string, AslState> };
  return Object.entries(asl.States).filter(([, state]) => state.Type === 'Task');
}

function definitionSubstitutions(template: Template): Record<string, unknown> {
  const [sm] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as {
    Properties: { DefinitionSubstitutions: Record<string, unknown> };
  }[];
  return sm!.Properties.DefinitionSubstitutions;
}

describe('runs in flight across a deploy (issue 10)', () => {
  it('names the runner and publisher task definitions by family, never by revision', () => {
    const { template } = synth();
    const given = definitionSubstitutions(template);
    const families = Object.values(template.findResources('AWS::ECS::TaskDefinition')).map(
      (td) => (td as { Properties: { Family: unknown } }).Properties.Family,
    );

    // A revisioned ARN (the task definition's Ref) breaks every run in flight when a deploy replaces
    // the revision: CloudFormation deregisters it and ECS refuses RunTask of an INACTIVE revision.
    expect(given.RunnerTaskDefinitionArn).toBe(taskDefinitionFamily('Stepline', 'runner'));
    expect(given.PublisherTaskDefinitionArn).toBe(taskDefinitionFamily('Stepline', 'publisher'));
    expect(families.sort()).toEqual(['Stepline-publisher', 'Stepline-runner']);
  });

  it('creates the state machine only after the task definitions it names', () => {
    const { stack, template } = synth();
    const [sm] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as {
      DependsOn?: string[];
    }[];

    expect(sm!.DependsOn).toEqual(
      expect.arrayContaining([
        logicalId(stack.pipeline.runnerTaskDefinition),
        logicalId(stack.pipeline.publisherTaskDefinition),
      ]),
    );
  });
});

describe('state machine permissions as AWS documents them for the integrations used (issue 10)', () => {
  const role = () => synth().stack.pipeline.stateMachine.role;

  it('uses only .waitForTaskToken for ECS, whose documented policy is ecs:RunTask (no StopTask, DescribeTasks or events rule)', () => {
    const ecs = taskStates().filter(([, s]) => s.Resource?.startsWith('arn:aws:states:::ecs:'));
    const all = statementsOf(role()).flatMap(actions);

    expect(ecs.map(([name]) => name)).toEqual(['Build', 'Test', 'PublishImage']);
    for (const [, state] of ecs) expect(state.Resource).toBe('arn:aws:states:::ecs:runTask.waitForTaskToken');
    expect(all.filter((a) => a.startsWith('ecs:')).sort()).toEqual(['ecs:RunTask', 'ecs:TagResource']);
    expect(all.filter((a) => a.startsWith('events:'))).toEqual([]);
  });

  it('invokes the Lambdas unqualified, as every Lambda task of the definition names them', () => {
    const lambdas = taskStates().flatMap(([name, s]) =>
      s.Resource?.startsWith('arn:aws:states:::lambda:')
        ? [[name, s.Parameters?.FunctionName] as const]
        : s.Resource?.startsWith('${')
          ? [[name, s.Resource] as const]
          : [],
    );
    const invoked = resources(statement(role(), 'InvokePipelineFunctions')).map((r) => JSON.stringify(r));

    expect(lambdas.length).toBeGreaterThanOrEqual(10);
    // A bare placeholder: no version or alias after the ARN, so no `:*` in the policy either.
    for (const [name, reference] of lambdas) expect(reference, name).toMatch(/^\$\{[A-Za-z]+FunctionArn\}$/);
    expect(invoked.filter((r) => r.includes(':*'))).toEqual([]);
  });

  it('may tag the tasks it starts, because its RunTask states propagate the task definition’s tags', () => {
    const tagging = taskStates().filter(
      ([, s]) =>
        s.Resource?.startsWith('arn:aws:states:::ecs:runTask') &&
        (s.Parameters?.PropagateTags !== undefined ||
          s.Parameters?.Tags !== undefined ||
          s.Parameters?.EnableECSManagedTags === true),
    );
    const tag = statement(role(), 'TagRunnerTasksAtLaunch');

    // With any tag on the task definition (cdk deploy --tags, an organisation's tag policies) RunTask
    // is also authorized as ecs:TagResource on the new task; without it every Build would be denied.
    expect(tagging.length).toBeGreaterThan(0);
    expect(actions(tag)).toEqual(['ecs:TagResource']);
    expect(tag.Condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'RunTask' } });
  });

  it('passes roles only with iam:PassedToService, and grants no iam:* or "*" action, in every stack', () => {
    const { template, demoTemplate, variantTemplate } = synth();
    for (const t of [template, demoTemplate, variantTemplate]) {
      const policies = Object.values(t.findResources('AWS::IAM::Policy')) as {
        Properties: { PolicyDocument: { Statement: Statement[] } };
      }[];
      const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
      for (const s of statements) {
        expect(actions(s).filter((a) => a === '*' || a === 'iam:*')).toEqual([]);
        if (actions(s).includes('iam:PassRole'))
          expect(s.Condition?.StringEquals, JSON.stringify(s)).toHaveProperty('iam:PassedToService');
      }
    }
  });
});

describe('notifications (issue 10)', () => {
  it('lets CloudWatch publish to the topic for exactly the stack’s alarms, so alarm emails arrive', () => {
    const { stack, template } = synth();
    const topic = stack.resolve(stack.pipeline.topic.topicArn);
    const [policy] = Object.values(template.findResources('AWS::SNS::TopicPolicy')) as {
      Properties: { PolicyDocument: { Statement: (Statement & { Principal?: unknown })[] } };
    }[];
    const fromCloudWatch = policy!.Properties.PolicyDocument.Statement.filter(
      (s) => s.Effect === 'Allow' && JSON.stringify(s.Principal).includes('cloudwatch.amazonaws.com'),
    );
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as {
      Properties: { AlarmName: string; AlarmActions: unknown[] };
    }[];

    // The topic policy replaces SNS's default one, which let the account's alarms publish.
    expect(fromCloudWatch).toHaveLength(1);
    const [allow] = fromCloudWatch;
    expect(actions(allow!)).toEqual(['sns:Publish']);
    expect(resources(allow!)).toEqual([topic]);
    expect(allow!.Condition?.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
    const sourceArns = JSON.stringify(allow!.Condition?.ArnEquals);
    expect(alarms.map((a) => a.Properties.AlarmName).sort()).toEqual([
      'Stepline-api-5xx',
      'Stepline-executions-failed',
    ]);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([topic]);
      expect(sourceArns).toContain(`:alarm:${alarm.Properties.AlarmName}"`);
    }
    expect(sourceArns).toContain(':cloudwatch:');
  });

  it('sends the execution’s ARN, name, status, state machine, times, error name and a console link, never its input, output or cause', () => {
    const { template, stack } = synth();
    const topicArn = JSON.stringify(stack.resolve(stack.pipeline.topic.topicArn));
    // The notification rule (the lane release rule, infra/lanes.ts, matches the same events).
    const [rule] = Object.values(
      template.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: { source: ['aws.states'] } },
      }),
    ).filter((r) => JSON.stringify(r).includes(topicArn)) as {
      Properties: {
        Targets: {
          Input?: unknown;
          InputPath?: unknown;
          InputTransformer?: { InputPathsMap: Record<string, string>; InputTemplate: unknown };
        }[];
      };
    }[];
    const [target] = rule!.Properties.Targets;

    // Without a transformer EventBridge sends the whole event, input and output included.
    expect(target!.InputTransformer).toBeDefined();
    expect(target!.Input).toBeUndefined();
    expect(target!.InputPath).toBeUndefined();
    const paths = Object.values(target!.InputTransformer!.InputPathsMap).sort();
    expect(paths).toEqual(
      [
        '$.detail.executionArn',
        '$.detail.name',
        '$.detail.status',
        '$.detail.stateMachineArn',
        '$.detail.startDate',
        '$.detail.stopDate',
        '$.detail.error',
        '$.time',
      ].sort(),
    );
    const template_ = JSON.stringify(target!.InputTransformer!.InputTemplate);
    expect(template_).toContain('.console.aws.amazon.com/states/home?region=');
    expect(template_).toContain('#/v2/executions/details/<detail-executionArn>');
    for (const key of [
      '"execution',
      '"name',
      '"status',
      '"stateMachine',
      '"startDate',
      '"stopDate',
      '"error',
    ])
      expect(template_).toContain(key);
  });
});

describe('several stacks in one account (issue 10)', () => {
  /** Physical names that must be unique per account and region, by resource type and property. */
  const namedProperties: Record<string, string> = {
    'AWS::SecretsManager::Secret': 'Name',
    'AWS::ECS::TaskDefinition': 'Family',
    'AWS::ECS::Cluster': 'ClusterName',
    'AWS::CloudWatch::Alarm': 'AlarmName',
    'AWS::IAM::Role': 'RoleName',
    'AWS::ECR::Repository': 'RepositoryName',
    'AWS::SNS::Topic': 'TopicName',
    'AWS::Lambda::Function': 'FunctionName',
    'AWS::StepFunctions::StateMachine': 'StateMachineName',
    'AWS::Logs::LogGroup': 'LogGroupName',
    'AWS::Events::Rule': 'Name',
  };

  const teamB: DeploymentConfigInput = {
    ...config,
    repositories: [
      {
        provider: 'github',
        name: 'acme/worker',
        webhookSecret: { secretName: 'stepline/acme/worker/webhook' },
        // The same token name as team A's config: team B imports the one secret team A's admin made.
        providerToken: { secretName: 'stepline/github/token' },
      },
    ],
  };

  let stacks: { a: PipelineStack; b: PipelineStack; a_: Template; b_: Template } | undefined;
  /** Two deployments of infra/app.ts with `-c stackName=…`: the same construct ids, two apps. */
  function twoStacks() {
    if (stacks !== undefined) return stacks;
    const deployment = (stackName: string, pipeline: PipelineStackProps['pipeline']) => {
      const app = new App({
        outdir: mkdtempSync(join(tmpdir(), 'stepline-two-stacks-')),
        context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] },
      });
      return new PipelineStack(app, 'Stepline', { stackName, pipeline });
    };
    const a = deployment('Stepline-team-a', { config });
    const b = deployment('Stepline-team-b', {
      config: teamB,
      importExistingSecrets: ['stepline/github/token'],
    });
    stacks = { a, b, a_: Template.fromStack(a), b_: Template.fromStack(b) };
    return stacks;
  }

  function physicalNames(template: Template): string[] {
    return Object.values(template.toJSON().Resources as Record<string, CfnResourceJson>).flatMap((r) => {
      const property = namedProperties[r.Type];
      const value = property === undefined ? undefined : r.Properties?.[property];
      return value === undefined ? [] : [`${r.Type} ${JSON.stringify(value)}`];
    });
  }

  it('gives two stacks of the same app code no physical name in common, not even for a secret name both configs use', () => {
    const { a_, b_ } = twoStacks();
    const inA = new Set(physicalNames(a_));

    expect(physicalNames(b_).filter((name) => inA.has(name))).toEqual([]);
    expect(physicalNames(a_)).toEqual(
      expect.arrayContaining([
        'AWS::SecretsManager::Secret "Stepline-team-a/stepline/github/token"',
        'AWS::SecretsManager::Secret "Stepline-team-a/approval-signing-key"',
        'AWS::ECS::TaskDefinition "Stepline-team-a-runner"',
        'AWS::CloudWatch::Alarm "Stepline-team-a-executions-failed"',
      ]),
    );
  });

  it('imports only the secrets named in importExistingSecrets, under those names, and creates the rest scoped', () => {
    const { b, b_ } = twoStacks();
    const created = Object.values(b_.findResources('AWS::SecretsManager::Secret')).map(
      (r) => (r as CfnResourceJson).Properties?.Name,
    );
    const fetchSource = b.pipeline.functions.fetchSource;
    const env = (b_.toJSON().Resources[logicalId(fetchSource.function, b)] as CfnResourceJson).Properties
      ?.Environment as { Variables: { STEPLINE_CONFIG: string } };
    const [repository] = JSON.parse(env.Variables.STEPLINE_CONFIG).repositories;

    expect(created.sort()).toEqual([
      'Stepline-team-b/approval-signing-key',
      'Stepline-team-b/stepline/acme/worker/webhook',
    ]);
    // The Lambdas read the names as placed: the imported token as written, the created one scoped.
    expect(repository.providerToken).toEqual({ secretName: 'stepline/github/token' });
    expect(repository.webhookSecret).toEqual({ secretName: 'Stepline-team-b/stepline/acme/worker/webhook' });
    expect(JSON.stringify(resources(statement(fetchSource.role, 'ReadProviderTokens', b)))).toContain(
      ':secret:stepline/github/token-??????',
    );
  });
});

describe('placing secrets (issue 10, no synth)', () => {
  const secrets = [
    { secretName: 'stepline/acme/api/webhook', kind: 'webhook' },
    { secretName: 'stepline/github/token', kind: 'token' },
  ] as const;

  it('creates every secret under <stack name>/<name> unless asked to import', () => {
    const placed = placeSecrets(secrets, { stackName: 'Stepline', importExisting: false });

    expect(placed.secrets.map((s) => [s.physicalName, s.imported])).toEqual([
      ['Stepline/stepline/acme/api/webhook', false],
      ['Stepline/stepline/github/token', false],
    ]);
    expect(placed.signingKey).toEqual({ physicalName: 'Stepline/approval-signing-key', imported: false });
  });

  it('imports each listed secret under the name as listed: as written in the config, or as the stack named it', () => {
    const placed = placeSecrets(secrets, {
      stackName: 'Stepline',
      importExisting: [
        'stepline/github/token',
        'Stepline/stepline/acme/api/webhook',
        'Stepline/approval-signing-key',
      ],
    });

    expect(placed.secrets.map((s) => [s.physicalName, s.imported])).toEqual([
      ['Stepline/stepline/acme/api/webhook', true],
      ['stepline/github/token', true],
    ]);
    expect(placed.signingKey.imported).toBe(true);
  });

  it('imports everything under the names written in the config with true, as before', () => {
    const placed = placeSecrets(secrets, { stackName: 'Stepline', importExisting: true });

    expect(placed.secrets.map((s) => s.physicalName)).toEqual([
      'stepline/acme/api/webhook',
      'stepline/github/token',
    ]);
    expect(placed.signingKey).toEqual({ physicalName: 'Stepline/approval-signing-key', imported: true });
  });

  it('refuses a listed name that is no configured secret, naming it and the names it could be', () => {
    expect(() =>
      placeSecrets(secrets, { stackName: 'Stepline', importExisting: ['stepline/github/tokn'] }),
    ).toThrow(/"stepline\/github\/tokn" names no configured secret.*stepline\/github\/token/);
  });

  it('reads a comma-separated importExistingSecrets from the app context', () => {
    const example = fileURLToPath(new URL('../../../stepline.config.example.json', import.meta.url));
    const app = new App({
      context: {
        config: example,
        importExistingSecrets: 'stepline/github/token',
        'aws:cdk:bundling-stacks': [],
      },
    });
    const { pipeline } = buildApp(app);

    expect([...pipeline.pipeline.secretNames.values()]).toEqual([
      'Stepline/stepline/acme/hello-service/webhook',
      'stepline/github/token',
    ]);
  });
});

describe('DependsOn (issue 10)', () => {
  it('names no resource that a Ref, GetAtt or Sub in the same resource already orders (cfn-lint W3005)', () => {
    const { template, demoTemplate, variantTemplate } = synth();
    const redundant = [template, demoTemplate, variantTemplate].flatMap((t) =>
      Object.entries(t.toJSON().Resources as Record<string, CfnResourceJson>).flatMap(([id, r]) => {
        const referenced = referencedLogicalIds(r.Properties ?? {});
        return (r.DependsOn ?? []).filter((d) => referenced.has(d)).map((d) => `${id} -> ${d}`);
      }),
    );

    expect(redundant).toEqual([]);
  });

  it('keeps the dependencies that order something: a Lambda still waits for its role’s policy', () => {
    const { stack, template } = synth();
    const webhook = stack.pipeline.functions.webhook;
    const resource = template.toJSON().Resources[logicalId(webhook.function)] as CfnResourceJson;
    const policy = webhook.role.node.tryFindChild('DefaultPolicy')!.node.defaultChild!;

    expect(resource.DependsOn).toEqual([logicalId(policy)]);
  });

  it('finds the references of Ref, GetAtt in both forms and Sub, pseudo parameters and Sub variables left out', () => {
    const found = referencedLogicalIds({
      A: { Ref: 'Bucket' },
      B: { 'Fn::GetAtt': ['Role', 'Arn'] },
      C: { 'Fn::GetAtt': 'Topic.TopicName' },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub string
      D: { 'Fn::Sub': ['${Queue.Arn}/${AWS::Region}/${local}', { local: { Ref: 'Key' } }] },
      E: { Ref: 'AWS::AccountId' },
    });

    expect([...found].sort()).toEqual(['Bucket', 'Key', 'Queue', 'Role', 'Topic']);
  });
});
