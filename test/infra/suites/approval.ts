import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { approvalRetentionDays } from '#infra/stepline-pipeline.ts';
import { readDefinition } from '#state-machines/pipeline.ts';
import { actions, logicalId, resources, type Statement, statement, statementsOf, synth } from '../fixture.ts';

type Resources = Record<string, { Properties?: unknown; DependsOn?: string | string[] }>;

/** Logical ids a resource refers to (Ref, Fn::GetAtt, ${…} in Fn::Sub, DependsOn). */
function references(resource: Resources[string], ids: ReadonlySet<string>): Set<string> {
  const found = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'Ref' && typeof value === 'string' && ids.has(value)) found.add(value);
      else if (key === 'Fn::GetAtt' && Array.isArray(value) && ids.has(String(value[0])))
        found.add(String(value[0]));
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(value) ? value[0] : value;
        for (const m of String(text).matchAll(/\$\{([A-Za-z0-9]+)(?:\.[^}]*)?\}/g))
          if (ids.has(m[1]!)) found.add(m[1]!);
        walk(value);
      } else walk(value);
    }
  };
  walk(resource.Properties);
  for (const dep of [resource.DependsOn ?? []].flat()) found.add(dep);
  return found;
}

/** A dependency cycle of the template as a list of logical ids, or `undefined`. */
function findCycle(all: Resources): string[] | undefined {
  const ids = new Set(Object.keys(all));
  const edges = new Map([...ids].map((id) => [id, references(all[id]!, ids)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'visiting');
    path.push(id);
    for (const next of edges.get(id) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of ids) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('approval wiring (issue 9)', () => {
  it('gives RequestApproval the API URL for its links, the signing key secret, the bucket and the config', () => {
    const { stack, template } = synth();
    const { requestApproval } = stack.pipeline.functions;
    const variables =
      template.toJSON().Resources[logicalId(requestApproval.function)].Properties.Environment.Variables;
    expect(variables).toMatchObject({
      APPROVAL_BASE_URL: stack.resolve(stack.pipeline.api.apiEndpoint),
      APPROVAL_SIGNING_KEY_SECRET: 'Stepline/approval-signing-key',
      ARTIFACT_BUCKET: stack.resolve(stack.pipeline.artifactBucket.bucketName),
      STEPLINE_CONFIG: expect.stringContaining('"approvers":["lead@example.com"]'),
    });
  });

  it('gives the approval API the signing key secret and the bucket, and no URL of its own', () => {
    const { stack, template } = synth();
    const variables =
      template.toJSON().Resources[logicalId(stack.pipeline.functions.approvalApi.function)].Properties
        .Environment.Variables;
    expect(variables).toMatchObject({
      APPROVAL_SIGNING_KEY_SECRET: 'Stepline/approval-signing-key',
      ARTIFACT_BUCKET: stack.resolve(stack.pipeline.artifactBucket.bucketName),
    });
    expect(variables.APPROVAL_BASE_URL).toBeUndefined();
  });

  it('has no dependency cycle between the HTTP API, its routes and the approval Lambdas', () => {
    expect(findCycle(synth().template.toJSON().Resources)).toBeUndefined();
  });

  it('finds a cycle when there is one (the checker itself)', () => {
    expect(
      findCycle({
        A: { Properties: { x: { Ref: 'B' } } },
        B: { Properties: { y: { 'Fn::GetAtt': ['A', 'Arn'] } } },
      }),
    ).toEqual(['A', 'B', 'A']);
  });

  it('generates a signing key named after the stack, kept when the stack is deleted', () => {
    synth().template.hasResource('AWS::SecretsManager::Secret', {
      Properties: Match.objectLike({
        Name: 'Stepline/approval-signing-key',
        GenerateSecretString: Match.objectLike({ ExcludePunctuation: true, PasswordLength: 64 }),
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('imports the signing key by name, with the six-character suffix in IAM, when secrets are imported', () => {
    const { variant, variantTemplate } = synth();
    variantTemplate.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const read = statement(variant.pipeline.functions.approvalApi.role, 'ReadSigningKey', variant);
    expect(JSON.stringify(resources(read))).toContain(':secret:SteplineVariant/approval-signing-key-??????');
  });

  it('invokes RequestApproval with .waitForTaskToken, covered by the state machine’s lambda:InvokeFunction', () => {
    const { stack } = synth();
    const asl = JSON.parse(readDefinition()) as {
      States: Record<string, { Resource?: string; Parameters?: Record<string, unknown> }>;
    };
    expect(asl.States.RequestApproval).toMatchObject({
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: { FunctionName: `\${RequestApprovalFunctionArn}` },
    });
    const invoke = statement(stack.pipeline.stateMachine.role, 'InvokePipelineFunctions');
    expect(resources(invoke)).toContainEqual(
      stack.resolve(stack.pipeline.functions.requestApproval.function.functionArn),
    );
  });

  it('expires approval records (which hold task tokens) after the longest approval timeout', () => {
    expect(approvalRetentionDays).toBeGreaterThan(30);
    synth().template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'ExpireApprovals',
            Prefix: 'approvals/',
            ExpirationInDays: approvalRetentionDays,
          }),
        ]),
      },
    });
  });
});

describe('approval permissions (issue 9)', () => {
  const fns = () => synth().stack.pipeline.functions;

  it('lets only RequestApproval send email, only as the configured sender identity (address or its domain)', () => {
    const { template } = synth();
    const send = statement(fns().requestApproval.role, 'SendAsConfiguredSender');
    expect(actions(send)).toEqual(['ses:SendEmail']);
    expect(resources(send).map((r) => JSON.stringify(r))).toEqual([
      expect.stringMatching(/:ses:.*:identity\/releases@mail\.acme\.example"/),
      expect.stringMatching(/:ses:.*:identity\/mail\.acme\.example"/),
    ]);
    expect(send.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'releases@mail.acme.example' } });
    const senders = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p).includes('ses:'),
    ) as { Properties: { Roles: unknown[] } }[];
    expect(senders.map((p) => p.Properties.Roles)).toEqual([
      [{ Ref: logicalId(fns().requestApproval.role) }],
    ]);
  });

  it('adds the recipients’ identities only for an account in the SES sandbox, the sender still fixed', () => {
    const { variant } = synth();
    const send = statement(
      variant.pipeline.functions.requestApproval.role,
      'SendAsConfiguredSender',
      variant,
    );
    const text = JSON.stringify(resources(send));
    expect(text).toContain('identity/lead@example.com');
    expect(text).toContain('identity/team@example.com');
    expect(send.Condition).toEqual({ StringEquals: { 'ses:FromAddress': 'releases@mail.acme.example' } });
  });

  it('gives states:SendTaskSuccess/SendTaskFailure to the approval API alone among the Lambdas', () => {
    const decide = statement(fns().approvalApi.role, 'DecideApprovals');
    expect(actions(decide).sort()).toEqual(['states:SendTaskFailure', 'states:SendTaskSuccess']);
    expect(resources(decide)).toEqual(['*']);
    for (const [name, fn] of Object.entries(fns())) {
      const sendTask = statementsOf(fn.role)
        .flatMap(actions)
        .filter((a) => a.startsWith('states:SendTask'));
      expect({ name, sendTask }).toEqual({ name, sendTask: name === 'approvalApi' ? expect.any(Array) : [] });
    }
  });

  it('lets the approval API describe executions of this state machine only', () => {
    const { stack } = synth();
    const describe = statement(fns().approvalApi.role, 'DescribePipelineExecutions');
    expect(actions(describe)).toEqual(['states:DescribeExecution']);
    expect(JSON.stringify(resources(describe))).toContain(
      JSON.stringify(stack.resolve(stack.pipeline.stateMachine.stateMachineName)),
    );
    expect(JSON.stringify(resources(describe))).toMatch(/:execution:".*":\*"/);
  });

  it('lets RequestApproval write and the approval API read and write approvals/, and nobody else touch it', () => {
    const { stack, template } = synth();
    const approvals = stack.resolve(stack.pipeline.artifactBucket.arnForObjects('approvals/*'));
    const write = statement(fns().requestApproval.role, 'WriteApprovalRecords');
    expect(actions(write)).toEqual(['s3:PutObject']);
    expect(resources(write)).toEqual([approvals]);
    const readWrite = statement(fns().approvalApi.role, 'ReadWriteApprovalRecords');
    expect(actions(readWrite).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(resources(readWrite)).toEqual([approvals]);
    const holders = (
      Object.values(template.findResources('AWS::IAM::Policy')) as {
        Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } };
      }[]
    ).filter((p) => JSON.stringify(p.Properties.PolicyDocument).includes('/approvals/*'));
    expect(holders.flatMap((p) => p.Properties.Roles.map((r) => r.Ref)).sort()).toEqual(
      [logicalId(fns().requestApproval.role), logicalId(fns().approvalApi.role)].sort(),
    );
  });

  it('lets the approval API list approvals/ so that a missing record answers 404, not 403', () => {
    const { stack } = synth();
    const list = statement(fns().approvalApi.role, 'ListApprovalRecords');
    expect(actions(list)).toEqual(['s3:ListBucket']);
    expect(resources(list)).toEqual([stack.resolve(stack.pipeline.artifactBucket.bucketArn)]);
    expect(list.Condition).toEqual({ StringLikeIfExists: { 's3:prefix': ['approvals/*'] } });
  });

  it('lets both read the signing key and nothing else read it', () => {
    const { stack } = synth();
    const key = stack.resolve(stack.pipeline.approvalSigningKey.secretArn);
    for (const fn of [fns().requestApproval, fns().approvalApi])
      expect(resources(statement(fn.role, 'ReadSigningKey'))).toEqual([key]);
    for (const fn of [
      fns().webhook,
      fns().fetchSource,
      fns().reportStatus,
      fns().deploy,
      fns().checkDeployment,
    ])
      expect(JSON.stringify(statementsOf(fn.role))).not.toContain(JSON.stringify(key));
  });

  it('lets RequestApproval read production’s service and revision (the running commit), and the provider tokens', () => {
    const { stack } = synth();
    const production = statement(fns().requestApproval.role, 'ReadProductionServices');
    expect(actions(production)).toEqual(['ecs:DescribeServices']);
    expect(resources(production)).toEqual(['arn:aws:ecs:eu-west-1:111122223333:service/apps-prod/api']);
    expect(actions(statement(fns().requestApproval.role, 'ReadTaskDefinitions'))).toEqual([
      'ecs:DescribeTaskDefinition',
    ]);
    expect(resources(statement(fns().requestApproval.role, 'ReadProviderTokens'))).toEqual(
      ['stepline/github/token', 'stepline/gitlab/token'].map((n) =>
        stack.resolve(stack.pipeline.secrets.get(n)!.secretArn),
      ),
    );
    expect(statementsOf(fns().requestApproval.role).flatMap(actions)).not.toContain('ecs:UpdateService');
  });
});
