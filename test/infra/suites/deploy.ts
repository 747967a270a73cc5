import { describe, expect, it } from 'vitest';
import { parseAwsDeploymentConfig } from '#infra/config.ts';
import { actions, config, logicalId, resources, statement, statementsOf, synth } from '../fixture.ts';

const serviceArns = () => {
  const { stack } = synth();
  return [
    // Named by cluster and service: this stack's account and region.
    {
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ecs:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          ':service/apps/api-staging',
        ],
      ],
    },
    // Named by a cluster ARN: that ARN's account and region.
    'arn:aws:ecs:eu-west-1:111122223333:service/apps-prod/api',
  ].map((arn) => stack.resolve(arn));
};

const serviceRoles = [
  'arn:aws:iam::111122223333:role/api-staging-task',
  'arn:aws:iam::111122223333:role/api-staging-execution',
  'arn:aws:iam::111122223333:role/api-task',
  'arn:aws:iam::111122223333:role/api-execution',
];

describe('Deploy and CheckDeployment permissions (issue 8)', () => {
  const deployRole = () => synth().stack.pipeline.functions.deploy.role;
  const checkRole = () => synth().stack.pipeline.functions.checkDeployment.role;

  it('lets Deploy describe and update exactly the configured services', () => {
    const rollOut = statement(deployRole(), 'RollOutConfiguredServices');
    expect(actions(rollOut).sort()).toEqual(['ecs:DescribeServices', 'ecs:UpdateService']);
    expect(resources(rollOut)).toEqual(serviceArns());
  });

  it('allows the task-definition reads and registrations that have no resource-level permissions on "*", and nothing else there', () => {
    const register = statement(deployRole(), 'RegisterTaskDefinitionRevisions');
    expect(actions(register).sort()).toEqual(['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition']);
    expect(resources(register)).toEqual(['*']);
    const unscoped = statementsOf(deployRole()).filter((s) => resources(s).includes('*'));
    expect(unscoped.map((s) => s.Sid)).toEqual(['RegisterTaskDefinitionRevisions']);
  });

  it('lets Deploy tag task definitions only while registering them', () => {
    const tag = statement(deployRole(), 'TagNewRevisions');
    expect(actions(tag)).toEqual(['ecs:TagResource']);
    expect(JSON.stringify(resources(tag))).toContain(':task-definition/*');
    expect(tag.Condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } });
  });

  it('lets Deploy pass only the configured services’ task and execution roles, only to ECS tasks', () => {
    const pass = statement(deployRole(), 'PassServiceRoles');
    expect(actions(pass)).toEqual(['iam:PassRole']);
    expect(resources(pass)).toEqual(serviceRoles);
    expect(pass.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  it('lets CheckDeployment watch and roll back the same services, read revisions, and register or pass nothing', () => {
    const watch = statement(checkRole(), 'WatchConfiguredServices');
    expect(actions(watch).sort()).toEqual(['ecs:DescribeServices', 'ecs:UpdateService']);
    expect(resources(watch)).toEqual(serviceArns());
    expect(actions(statement(checkRole(), 'ReadTaskDefinitions'))).toEqual(['ecs:DescribeTaskDefinition']);
    const all = statementsOf(checkRole()).flatMap(actions);
    expect(all).not.toContain('iam:PassRole');
    expect(all).not.toContain('ecs:RegisterTaskDefinition');
  });

  it('gives iam:PassRole for service roles to Deploy alone, and ecs:UpdateService on "*" to nobody', () => {
    const { template } = synth();
    const deployRoleId = logicalId(deployRole());
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as {
      Properties: {
        Roles: { Ref: string }[];
        PolicyDocument: { Statement: Parameters<typeof actions>[0][] };
      };
    }[];
    for (const policy of policies) {
      for (const s of policy.Properties.PolicyDocument.Statement) {
        if (actions(s).includes('ecs:UpdateService')) expect(resources(s)).not.toContain('*');
        if (resources(s).some((r) => serviceRoles.includes(r as string)))
          expect(policy.Properties.Roles).toEqual([{ Ref: deployRoleId }]);
      }
    }
  });

  it('gives both Lambdas the deployment config', () => {
    const { stack, template } = synth();
    for (const fn of [stack.pipeline.functions.deploy, stack.pipeline.functions.checkDeployment]) {
      const variables = template.toJSON().Resources[logicalId(fn.function)].Properties.Environment.Variables;
      expect(JSON.parse(variables.STEPLINE_CONFIG).repositories[0].deploy.production.service).toBe('api');
    }
  });
});

describe('deploy targets in the AWS config (issue 8, no synth)', () => {
  const repo = config.repositories[0]!;
  const withTarget = (patch: object) => ({
    ...config,
    repositories: [{ ...repo, deploy: { staging: { ...repo.deploy!.staging!, ...patch } } }],
  });

  it('requires the task and execution role ARNs of each target, saying why and where to find them', () => {
    expect(() => parseAwsDeploymentConfig(withTarget({ taskRoleArn: undefined }))).toThrow(
      /repositories\[0\] \("acme\/api"\)\.deploy\.staging: on AWS name the roles .*\(taskRoleArn missing\).*iam:PassRole.*describe-task-definition/s,
    );
  });

  it('rejects a role that is not an IAM role ARN, showing the value', () => {
    expect(() => parseAwsDeploymentConfig(withTarget({ executionRoleArn: 'api-execution' }))).toThrow(
      /executionRoleArn.*expected an IAM role ARN/,
    );
  });

  it('rejects a cluster that is neither a name nor an ARN', () => {
    expect(() => parseAwsDeploymentConfig(withTarget({ cluster: 'apps/*' }))).toThrow(
      /deploy\.staging\.cluster: "apps\/\*" is neither an ECS cluster name/,
    );
  });

  it('rejects a service ARN of another cluster than the configured one', () => {
    expect(() =>
      parseAwsDeploymentConfig(
        withTarget({ service: 'arn:aws:ecs:us-east-1:111122223333:service/other/api-staging' }),
      ),
    ).toThrow(/is a service of cluster "other", not of the configured cluster "apps"/);
  });

  it('lists every configured target with its roles and the region and account a cluster ARN names', () => {
    const { deployTargets } = parseAwsDeploymentConfig(config);
    expect(deployTargets).toEqual([
      expect.objectContaining({ environment: 'staging', cluster: 'apps', service: 'api-staging' }),
      expect.objectContaining({
        environment: 'production',
        cluster: 'apps-prod',
        service: 'api',
        partition: 'aws',
        region: 'eu-west-1',
        account: '111122223333',
        taskRoleArn: 'arn:aws:iam::111122223333:role/api-task',
      }),
    ]);
  });

  it('derives the image repositories, and refuses a name ECR cannot take', () => {
    expect(parseAwsDeploymentConfig(config).imageRepositories).toEqual(['acme/api', 'web/frontend']);
    expect(() =>
      parseAwsDeploymentConfig({ ...config, repositories: [{ ...repo, name: 'Acme/__' }] }),
    ).toThrow(/\.image\.repository: no ECR repository name can be derived from "Acme\/__"/);
  });
});
