import { readFileSync } from 'node:fs';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  demoClusterName,
  demoContainerName,
  demoPlaceholderImage,
  demoRoleNames,
  demoServiceNames,
} from '#infra/demo-stack.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import { actions, logicalId, resources, statement, synth } from '../fixture.ts';

describe('demo stack (issue 8, -c demo=true)', () => {
  it('puts an internet-facing ALB in front: production on port 80, staging on 8080', () => {
    const { demoTemplate } = synth();
    demoTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'application',
    });
    for (const port of [80, 8080])
      demoTemplate.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: port,
        Protocol: 'HTTP',
      });
  });

  it('health-checks the tasks on /healthz of the container port', () => {
    const { demoTemplate } = synth();
    const groups = demoTemplate.findResources('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Properties: { HealthCheckPath: '/healthz', Port: 8080, TargetType: 'ip' },
    });
    expect(Object.keys(groups)).toHaveLength(2);
  });

  it('runs a staging and a production service with the names the example config uses, circuit breaker and rollback on', () => {
    const { demoTemplate } = synth();
    demoTemplate.hasResourceProperties('AWS::ECS::Cluster', { ClusterName: demoClusterName });
    for (const name of Object.values(demoServiceNames)) {
      demoTemplate.hasResourceProperties('AWS::ECS::Service', {
        ServiceName: name,
        LaunchType: 'FARGATE',
        DesiredCount: 0,
        DeploymentConfiguration: Match.objectLike({
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
          MinimumHealthyPercent: 100,
          MaximumPercent: 200,
        }),
      });
    }
  });

  it('tags each service with its URL on the load balancer (stepline:url)', () => {
    const { demo, demoTemplate } = synth();
    for (const environment of ['staging', 'production'] as const) {
      const service = demoTemplate.toJSON().Resources[logicalId(demo.services[environment], demo)];
      expect(service.Properties.Tags).toContainEqual({
        Key: 'stepline:url',
        Value: demo.resolve(demo.urls[environment]),
      });
      expect(JSON.stringify(demo.resolve(demo.urls[environment]))).toContain(
        environment === 'production' ? ':80/' : ':8080/',
      );
    }
  });

  it('starts from a placeholder image in a container named as the config names it, on arm64', () => {
    const { demoTemplate } = synth();
    const tds = Object.values(demoTemplate.findResources('AWS::ECS::TaskDefinition')) as {
      Properties: {
        Family: string;
        ContainerDefinitions: { Name: string; Image: string }[];
        RuntimePlatform: object;
      };
    }[];
    expect(tds.map((td) => td.Properties.Family).sort()).toEqual([
      `${demoClusterName}-${demoServiceNames.production}`,
      `${demoClusterName}-${demoServiceNames.staging}`,
    ]);
    for (const td of tds) {
      expect(td.Properties.ContainerDefinitions).toEqual([
        expect.objectContaining({ Name: demoContainerName, Image: demoPlaceholderImage }),
      ]);
      expect(td.Properties.RuntimePlatform).toEqual({
        CpuArchitecture: 'ARM64',
        OperatingSystemFamily: 'LINUX',
      });
    }
  });

  it('names the task and execution roles predictably, and lets the execution role pull only the configured repositories', () => {
    const { demo, demoTemplate } = synth();
    for (const environment of ['staging', 'production'] as const) {
      const names = demoRoleNames[environment];
      demoTemplate.hasResourceProperties('AWS::IAM::Role', { RoleName: names.task });
      demoTemplate.hasResourceProperties('AWS::IAM::Role', { RoleName: names.execution });
      const executionRole = demo.taskDefinitions[environment].obtainExecutionRole();
      const pull = statement(executionRole, 'PullSteplineImages', demo);
      expect(actions(pull).sort()).toEqual([
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
      ]);
      const text = JSON.stringify(resources(pull));
      expect(text).toContain(':repository/acme/api');
      expect(text).toContain(':repository/web/frontend');
      expect(resources(statement(executionRole, 'GetRegistryToken', demo))).toEqual(['*']);
    }
  });

  it('outputs the deploy block for the config, with the roles of this account', () => {
    const { demoTemplate } = synth();
    const outputs = demoTemplate.toJSON().Outputs as Record<string, { Value: unknown }>;
    const text = JSON.stringify(outputs.DeployConfig!.Value);
    for (const expected of ['taskRoleArn', 'executionRoleArn', 'desiredCount', demoServiceNames.production])
      expect(text).toContain(expected);
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['StagingUrl', 'ProductionUrl', 'ClusterName', 'ContainerName']),
    );
  });

  it('matches stepline.config.example.json: cluster, services, container and role names', () => {
    const example = DeploymentConfig.parse(
      JSON.parse(readFileSync(new URL('../../../stepline.config.example.json', import.meta.url), 'utf8')),
    );
    const deploy = example.repositories[0]!.deploy!;
    for (const environment of ['staging', 'production'] as const) {
      const target = deploy[environment]!;
      expect(target).toMatchObject({
        cluster: demoClusterName,
        service: demoServiceNames[environment],
        container: demoContainerName,
      });
      expect(target.taskRoleArn).toMatch(new RegExp(`:role/${demoRoleNames[environment].task}$`));
      expect(target.executionRoleArn).toMatch(new RegExp(`:role/${demoRoleNames[environment].execution}$`));
    }
  });
});
