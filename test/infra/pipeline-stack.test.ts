import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configForEnvironment,
  loadAwsDeploymentConfig,
  maxConfigEnvBytes,
  parseAwsDeploymentConfig,
  resolveConfigFile,
} from '#infra/config.ts';
import type { PipelineStack } from '#infra/pipeline-stack.ts';
import { buildApp } from '#infra/stepline-app.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { placeholders, readDefinition } from '#state-machines/pipeline.ts';
import { actions, config, logicalId, resources, statement, statementsOf, synth } from './fixture.ts';
// One synthesis for all infra tests: the suites register their tests in this file.
import './suites/image.ts';
import './suites/deploy.ts';
import './suites/approval.ts';
import './suites/demo.ts';
import './suites/lint.ts';
import './suites/review.ts';
import './suites/isolation.ts';
import './suites/task-stopped.ts';
import './suites/lanes.ts';
import './suites/compute.ts';
import './suites/secrets-extension.ts';

let app: App;
let stack: PipelineStack;
let template: Template;

beforeAll(() => {
  ({ app, stack, template } = synth());
});

afterAll(() => {
  const { template, demoTemplate, variantTemplate, seconds } = synth();
  const count = (t: Template) => Object.keys(t.toJSON().Resources).length;
  console.log(
    `infra: synthesized once in ${seconds.toFixed(1)} s: Stepline ${count(template)} resources, SteplineDemo ${count(demoTemplate)}, SteplineVariant ${count(variantTemplate)}`,
  );
});

describe('HTTP API', () => {
  it('routes POST /webhooks/{provider} to the webhook Lambda', () => {
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration', {
      Properties: {
        IntegrationUri: { 'Fn::GetAtt': [logicalId(stack.pipeline.functions.webhook.function), 'Arn'] },
      },
    });
    const [integrationId] = Object.keys(integrations);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /webhooks/{provider}',
      Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] },
    });
  });

  it('routes GET and POST /approvals/{id} to the approval API Lambda and nothing else to it', () => {
    const integrations = template.findResources('AWS::ApiGatewayV2::Integration', {
      Properties: {
        IntegrationUri: { 'Fn::GetAtt': [logicalId(stack.pipeline.functions.approvalApi.function), 'Arn'] },
      },
    });
    const [integrationId] = Object.keys(integrations);
    const routes = template.findResources('AWS::ApiGatewayV2::Route', {
      Properties: { Target: { 'Fn::Join': ['', ['integrations/', { Ref: integrationId }]] } },
    });
    expect(
      Object.values(routes)
        .map((r) => (r as { Properties: { RouteKey: string } }).Properties.RouteKey)
        .sort(),
    ).toEqual(['GET /approvals/{id}', 'POST /approvals/{id}']);
  });

  it('throttles the default stage and writes access logs to a log group with retention', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('ApiAccessLogs'), 'Arn'] },
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });
});

describe('state machine', () => {
  it('is the exact bytes of state-machines/pipeline.asl.json', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      DefinitionString: readDefinition(),
    });
  });

  it('fills exactly the placeholders the definition declares', () => {
    const [sm] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const keys = Object.keys(
      (sm as { Properties: { DefinitionSubstitutions: object } }).Properties.DefinitionSubstitutions,
    );
    expect(keys.sort()).toEqual([...placeholders].sort());
  });

  it('substitutes the function ARNs, the runner and publisher task definitions, their network and container name', () => {
    const { functions, cluster, runnerTaskDefinition, publisherTaskDefinition } = stack.pipeline;
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      DefinitionSubstitutions: {
        ReportStatusFunctionArn: stack.resolve(functions.reportStatus.function.functionArn),
        FetchSourceFunctionArn: stack.resolve(functions.fetchSource.function.functionArn),
        DeployFunctionArn: stack.resolve(functions.deploy.function.functionArn),
        CheckDeploymentFunctionArn: stack.resolve(functions.checkDeployment.function.functionArn),
        RequestApprovalFunctionArn: stack.resolve(functions.requestApproval.function.functionArn),
        RunnerClusterArn: stack.resolve(cluster.clusterArn),
        // Families without a revision (see the review suite): RunTask runs the latest ACTIVE revision.
        RunnerTaskDefinitionArn: runnerTaskDefinition.family,
        PublisherTaskDefinitionArn: publisherTaskDefinition.family,
        RunnerContainerName: 'runner',
        RunnerSubnets: {
          'Fn::Join': [',', Match.arrayWith([{ Ref: Match.stringLikeRegexp('PublicSubnet') }])],
        },
        // One group: Fn.join of a single element is the element itself.
        RunnerSecurityGroups: {
          'Fn::GetAtt': [logicalId(stack.pipeline.runnerSecurityGroups[0]!), 'GroupId'],
        },
        RunnerAssignPublicIp: 'ENABLED',
      },
    });
  });

  it('is a STANDARD state machine that logs without execution data and traces with X-Ray', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      LoggingConfiguration: { IncludeExecutionData: false, Level: 'ALL' },
      TracingConfiguration: { Enabled: true },
    });
  });
});

describe('least privilege of the state machine role', () => {
  const role = () => stack.pipeline.stateMachine.role;

  it('invokes only the five step Lambdas and the lane Lambda, unqualified as the definition names them', () => {
    const { functions, lanes } = stack.pipeline;
    const steps = [
      functions.reportStatus,
      functions.fetchSource,
      functions.deploy,
      functions.checkDeployment,
      functions.requestApproval,
      lanes.handler,
    ];
    const invoke = statement(role(), 'InvokePipelineFunctions');
    expect(actions(invoke)).toEqual(['lambda:InvokeFunction']);
    expect(resources(invoke)).toEqual(steps.map((f) => stack.resolve(f.function.functionArn)));
  });

  it('runs only the runner and publisher task definition families, only in the runner cluster', () => {
    const run = statement(role(), 'RunRunnerTasks');
    expect(actions(run)).toEqual(['ecs:RunTask']);
    const families = resources(run).map((r) => JSON.stringify(r));
    expect(families).toHaveLength(2);
    const { runnerTaskDefinition, publisherTaskDefinition } = stack.pipeline;
    for (const family of [runnerTaskDefinition.family, publisherTaskDefinition.family])
      expect(families.some((f) => f.includes(`task-definition/${family}:*`))).toBe(true);
    expect(run.Condition).toEqual({
      ArnEquals: { 'ecs:cluster': stack.resolve(stack.pipeline.cluster.clusterArn) },
    });
  });

  it('passes only the repositories’ task roles and the runner and publisher roles, only to ECS tasks', () => {
    const pass = statement(role(), 'PassRunnerRoles');
    const { runnerTaskDefinition, publisherTaskDefinition, repositoryTaskRoles } = stack.pipeline;
    expect(actions(pass)).toEqual(['iam:PassRole']);
    expect(resources(pass)).toEqual([
      ...[...repositoryTaskRoles.values()].flatMap((r) => [
        stack.resolve(r.runner.roleArn),
        stack.resolve(r.publisher.roleArn),
      ]),
      ...[runnerTaskDefinition, publisherTaskDefinition].flatMap((td) => [
        stack.resolve(td.taskRole.roleArn),
        stack.resolve(td.obtainExecutionRole().roleArn),
      ]),
    ]);
    expect(resources(pass)).toHaveLength(2 * 2 + 4);
    expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  it('tags only tasks of the runner cluster, only while RunTask creates them', () => {
    const tag = statement(role(), 'TagRunnerTasksAtLaunch');
    expect(actions(tag)).toEqual(['ecs:TagResource']);
    const resource = JSON.stringify(resources(tag));
    expect(resource).toContain(JSON.stringify(stack.resolve(stack.pipeline.cluster.clusterName)));
    expect(resource).toMatch(/:task\/",\{"Ref":"[A-Za-z0-9]+"\},"\/\*"/);
    expect(tag.Condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'RunTask' } });
  });

  it('has no EventBridge rule permissions, which only .sync integrations need', () => {
    const all = statementsOf(role()).flatMap(actions);
    expect(all.filter((a) => a.startsWith('events:'))).toEqual([]);
  });

  it('uses Resource "*" only for log delivery and X-Ray actions, which have no resource-level permissions', () => {
    const wildcard = statementsOf(role()).filter((s) => resources(s).includes('*'));
    expect(wildcard.flatMap(actions).every((a) => a.startsWith('logs:') || a.startsWith('xray:'))).toBe(true);
  });
});

describe('least privilege of the runner and the Lambdas', () => {
  it("lets a repository's runner read and write only its own runs/ and caches/ of the artifact bucket", () => {
    const role = stack.pipeline.repositoryTaskRoles.get('gitlab:group/web')!.runner;
    const bucket = stack.pipeline.artifactBucket;
    const rw = statement(role, 'ReadWriteRunsAndCaches');
    expect(actions(rw).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(resources(rw)).toEqual([
      stack.resolve(bucket.arnForObjects('runs/gitlab/group%2Fweb/*')),
      stack.resolve(bucket.arnForObjects('caches/gitlab/group%2Fweb/*')),
    ]);
    const list = statement(role, 'ListRunsAndCaches');
    expect(resources(list)).toEqual([stack.resolve(bucket.bucketArn)]);
    expect(list.Condition).toEqual({
      StringLikeIfExists: { 's3:prefix': ['runs/gitlab/group%2Fweb/*', 'caches/gitlab/group%2Fweb/*'] },
    });
  });

  it("lets a repository's runner report task results and nothing more", () => {
    for (const { runner } of stack.pipeline.repositoryTaskRoles.values()) {
      expect(actions(statement(runner, 'ReportTaskResults')).sort()).toEqual([
        'states:SendTaskFailure',
        'states:SendTaskHeartbeat',
        'states:SendTaskSuccess',
      ]);
      expect(
        statementsOf(runner)
          .map((s) => s.Sid)
          .sort(),
      ).toEqual(['ListRunsAndCaches', 'ReadWriteRunsAndCaches', 'ReportTaskResults']);
    }
  });

  it('lets the webhook start only this state machine and read only the webhook secrets', () => {
    const role = stack.pipeline.functions.webhook.role;
    const start = statement(role, 'StartPipelineExecutions');
    expect(actions(start)).toEqual(['states:StartExecution']);
    expect(resources(start)).toEqual([stack.resolve(stack.pipeline.stateMachine.stateMachineArn)]);
    const read = statement(role, 'ReadWebhookSecrets');
    expect(actions(read)).toEqual(['secretsmanager:GetSecretValue']);
    expect(resources(read)).toEqual(
      ['stepline/acme/api/webhook', 'stepline/group/web/webhook'].map((n) =>
        stack.resolve(stack.pipeline.secrets.get(n)!.secretArn),
      ),
    );
  });

  it('lets FetchSource put (and abort multipart uploads of) objects under runs/ and read the provider tokens', () => {
    const role = stack.pipeline.functions.fetchSource.role;
    const put = statement(role, 'WriteRunArtifacts');
    expect(actions(put).sort()).toEqual(['s3:AbortMultipartUpload', 's3:PutObject']);
    expect(resources(put)).toEqual([stack.resolve(stack.pipeline.artifactBucket.arnForObjects('runs/*'))]);
    expect(resources(statement(role, 'ReadProviderTokens'))).toEqual(
      ['stepline/github/token', 'stepline/gitlab/token'].map((n) =>
        stack.resolve(stack.pipeline.secrets.get(n)!.secretArn),
      ),
    );
  });

  it('lets ReportStatus read only the provider tokens', () => {
    const role = stack.pipeline.functions.reportStatus.role;
    expect(statementsOf(role).map((s) => s.Sid ?? actions(s).join(','))).toEqual([
      'logs:CreateLogStream,logs:PutLogEvents',
      'ReadProviderTokens',
    ]);
  });

  it('gives every Lambda its own role that writes only to its own log group', () => {
    for (const fn of Object.values(stack.pipeline.functions)) {
      const logs = statementsOf(fn.role).find((s) => actions(s).includes('logs:PutLogEvents'))!;
      expect(resources(logs)).toEqual([stack.resolve(fn.logGroup.logGroupArn)]);
    }
  });
});

describe('Lambdas', () => {
  it('run Node.js 22 on arm64 with Powertools settings and without parsing source maps at cold start', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    // Seven pipeline Lambdas, the task-stopped handler and the lane Lambda.
    expect(Object.keys(fns)).toHaveLength(9);
    for (const fn of Object.values(fns) as { Properties: Record<string, unknown> }[]) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Environment: {
          Variables: {
            POWERTOOLS_SERVICE_NAME: expect.stringMatching(/^stepline-/),
            POWERTOOLS_LOG_LEVEL: 'INFO',
          },
        },
        LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
      });
      // --enable-source-maps would parse each bundle's map at every cold start (test/infra/lambda-bundling.test.ts).
      expect(fn.Properties).not.toHaveProperty('Environment.Variables.NODE_OPTIONS');
    }
  });

  it('give the webhook the state machine ARN and the compact deployment config', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          STATE_MACHINE_ARN: stack.resolve(stack.pipeline.stateMachine.stateMachineArn),
          STEPLINE_CONFIG: configForEnvironment(config, { secretNames: stack.pipeline.secretNames }),
        }),
      },
    });
  });

  it('give FetchSource the artifact bucket and the config, and ReportStatus the config', () => {
    const env = (key: 'fetchSource' | 'reportStatus') =>
      template.toJSON().Resources[logicalId(stack.pipeline.functions[key].function)].Properties.Environment
        .Variables;
    expect(env('fetchSource')).toMatchObject({
      ARTIFACT_BUCKET: stack.resolve(stack.pipeline.artifactBucket.bucketName),
      STEPLINE_CONFIG: expect.stringContaining('"acme/api"'),
    });
    expect(env('reportStatus')).toMatchObject({ STEPLINE_CONFIG: expect.stringContaining('"group/web"') });
  });
});

describe('artifact bucket', () => {
  it('is encrypted, private, logged and expires runs/ and caches/ after the configured days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logicalId(stack.pipeline.accessLogsBucket) },
        LogFilePrefix: 'artifact-bucket/',
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: 'ExpireRuns', Prefix: 'runs/', ExpirationInDays: 30, Status: 'Enabled' }),
          Match.objectLike({ Id: 'ExpireCaches', Prefix: 'caches/', ExpirationInDays: 7, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('is retained when the stack is deleted', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: Match.objectLike({
        LifecycleConfiguration: Match.anyValue(),
        LoggingConfiguration: Match.anyValue(),
      }),
      DeletionPolicy: 'Retain',
    });
  });

  it('denies every request made without TLS, on both buckets', () => {
    const policies = template.findResources('AWS::S3::BucketPolicy', {
      Properties: {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      },
    });
    const buckets = Object.values(policies).map(
      (p) => (p as { Properties: { Bucket: unknown } }).Properties.Bucket,
    );
    expect(buckets).toEqual(
      expect.arrayContaining([
        { Ref: logicalId(stack.pipeline.artifactBucket) },
        { Ref: logicalId(stack.pipeline.accessLogsBucket) },
      ]),
    );
  });
});

describe('runner', () => {
  it('is an arm64 Fargate task definition with the runner container logging to CloudWatch', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Cpu: '1024',
      Memory: '2048',
      EphemeralStorage: { SizeInGiB: 30 },
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'runner',
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          Environment: Match.arrayWith([
            { Name: 'ARTIFACT_BUCKET', Value: stack.resolve(stack.pipeline.artifactBucket.bucketName) },
            { Name: 'STEPLINE_HEARTBEAT_SECONDS', Value: '20' },
          ]),
        }),
      ],
    });
  });

  it('runs in a cluster with Container Insights', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('gets a VPC with public subnets only, no NAT gateway, flow logs and an egress-only security group', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      SecurityGroupEgress: [{ CidrIp: '0.0.0.0/0', IpProtocol: '-1' }],
      SecurityGroupIngress: Match.absent(),
    });
  });
});

describe('secrets', () => {
  it('generates webhook secrets without punctuation, so they can be pasted into the provider', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      // Scoped by the stack name: a second stack with the same config must not collide.
      Name: 'Stepline/stepline/acme/api/webhook',
      GenerateSecretString: Match.objectLike({ ExcludePunctuation: true }),
    });
  });

  it('creates provider tokens with a placeholder value to overwrite', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'Stepline/stepline/github/token',
      SecretString: Match.stringLikeRegexp('put-secret-value'),
    });
  });
});

describe('notifications', () => {
  it('enforces TLS on the topic and subscribes the notification emails', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'team@example.com',
    });
  });

  it('sends failed, timed-out and aborted executions of this state machine to the topic', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: [stack.resolve(stack.pipeline.stateMachine.stateMachineArn)],
        },
      },
      Targets: [Match.objectLike({ Arn: stack.resolve(stack.pipeline.topic.topicArn) })],
    });
  });

  it('alarms on failed executions and on HTTP API 5xx', () => {
    const topic = stack.resolve(stack.pipeline.topic.topicArn);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      AlarmActions: [topic],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: '5xx',
      Namespace: 'AWS/ApiGateway',
      AlarmActions: [topic],
    });
  });
});

describe('outputs', () => {
  it('give a webhook URL per configured provider, the state machine, the bucket and the secret names', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'GithubWebhookUrl',
        'GitlabWebhookUrl',
        'StateMachineArn',
        'StateMachineConsoleUrl',
        'ArtifactBucketName',
        'SecretNames',
      ]),
    );
    expect(JSON.stringify(outputs.GitlabWebhookUrl!.Value)).toContain('/webhooks/gitlab');
    expect(outputs.SecretNames!.Value).toBe(
      'Stepline/stepline/acme/api/webhook,Stepline/stepline/github/token,Stepline/stepline/group/web/webhook,Stepline/stepline/gitlab/token',
    );
  });
});

describe('cdk-nag', () => {
  it('reports no unacknowledged AwsSolutions finding, error or warning', () => {
    // Run the pack directly (not as a synth plugin) so a finding fails this test with its list
    // instead of failing every test at synth.
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it('leaves no AwsSolutions annotation on the stack', () => {
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });
});

describe('deployment config on AWS (no synth)', () => {
  const repo = config.repositories[0]!;
  const withRepo = (patch: object) => ({ ...config, repositories: [{ ...repo, ...patch }] });

  it('rejects a secret given as a literal value, naming the repository and the field', () => {
    expect(() => parseAwsDeploymentConfig(withRepo({ webhookSecret: { value: 's3cret' } }))).toThrow(
      /repositories\[0\] \("acme\/api"\)\.webhookSecret: on AWS a secret must be \{ "secretName": "…" \}.*template/,
    );
  });

  it('rejects a secret given as an environment variable', () => {
    expect(() => parseAwsDeploymentConfig(withRepo({ providerToken: { env: 'GITHUB_TOKEN' } }))).toThrow(
      /repositories\[0\] \("acme\/api"\)\.providerToken: .*\{ "env": "GITHUB_TOKEN" \}/,
    );
  });

  it('does not show a literal secret value in the error', () => {
    expect(() =>
      parseAwsDeploymentConfig(withRepo({ webhookSecret: { value: 'hunter2-very-secret' } })),
    ).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });

  it('rejects a repository name with glob characters', () => {
    expect(() => parseAwsDeploymentConfig(withRepo({ name: 'acme/*' }))).toThrow(
      /repositories\[0\] \("acme\/\*"\)\.name: .*an AWS deployment always names its repositories/,
    );
  });

  it('passes the Lambdas the config as written, which parses to the same config without the role ARNs', () => {
    const parsed = parseAwsDeploymentConfig(config).config;
    const fromEnv = DeploymentConfig.parse(JSON.parse(configForEnvironment(config)));
    const withoutRoles = JSON.parse(
      JSON.stringify(parsed, (key, value) => (/RoleArn$/.test(key) ? undefined : value)),
    );
    expect(fromEnv).toEqual(withoutRoles);
    expect(configForEnvironment(config)).not.toContain('RoleArn');
    expect(configForEnvironment(config).length).toBeLessThan(JSON.stringify(parsed).length);
  });

  it('rejects a config that would not fit in a Lambda environment', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ ...repo, name: `acme/service-${i}` }));
    const big = parseAwsDeploymentConfig({ ...config, repositories: many }).config;
    expect(() => configForEnvironment(big)).toThrow(new RegExp(`at most ${maxConfigEnvBytes} bytes`));
  });

  it('falls back to the example config with a note when stepline.config.json does not exist', () => {
    const notes: string[] = [];
    const file = resolveConfigFile({ cwd: '/nonexistent', env: {}, note: (m) => notes.push(m) });
    expect(file).toBe('/nonexistent/stepline.config.example.json');
    expect(notes.join('\n')).toMatch(/stepline\.config\.json not found/);
  });

  it('accepts the example config shipped at the repository root', () => {
    const example = loadAwsDeploymentConfig(
      fileURLToPath(new URL('../../stepline.config.example.json', import.meta.url)),
    );
    expect(example.secrets.map((s) => s.kind)).toEqual(['webhook', 'token']);
  });

  it('refuses both base image context keys at once, naming them', () => {
    const example = fileURLToPath(new URL('../../stepline.config.example.json', import.meta.url));
    const app = new App({
      context: {
        config: example,
        baseRegistry: 'mirror.example.com/library',
        pullThroughCachePrefix: 'ecr-public',
      },
    });
    expect(() => buildApp(app)).toThrow(/baseRegistry and pullThroughCachePrefix exclude each other/);
  });

  it('prefers -c config=… over STEPLINE_CONFIG_FILE', () => {
    const file = resolveConfigFile({
      contextValue: 'ctx.json',
      env: { STEPLINE_CONFIG_FILE: 'env.json' },
      cwd: '/w',
    });
    expect(file).toBe('/w/ctx.json');
  });
});
