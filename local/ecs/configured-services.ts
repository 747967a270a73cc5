import type { DeploymentConfig, EcsTarget, Environment } from '#shared/deployment-config.ts';
import { environments } from '#shared/deployment-config.ts';
import { healthPathTag, type LocalEcs, notDeployedImage } from './local-ecs.ts';

/** Service tag naming the environment (staging, production) a service is configured as. */
export const environmentTag = 'stepline:environment';

/** The port the configured services' containers are said to listen on; locally each task gets its own PORT. */
const containerPort = 8080;

/** Every ECS target the deployment configuration names, once per cluster and service. */
export function configuredTargets(
  config: DeploymentConfig,
): { environment: Environment; target: EcsTarget }[] {
  const seen = new Set<string>();
  const out: { environment: Environment; target: EcsTarget }[] = [];
  for (const repository of config.repositories) {
    for (const environment of environments) {
      const target = repository.deploy?.[environment];
      if (!target) continue;
      const key = `${target.cluster}/${target.service}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ environment, target });
    }
  }
  return out;
}

/**
 * Makes sure every service the deployment configuration deploys to exists, as the stack would on
 * AWS: its cluster, a first task definition (family named after the service, the configured
 * container, no image yet) and the service with no task until the first deploy, behind its load
 * balancer, with the circuit breaker on and the configured health path.
 */
export async function ensureConfiguredServices(ecs: LocalEcs, config: DeploymentConfig): Promise<void> {
  for (const { environment, target } of configuredTargets(config)) {
    ecs.ensureCluster(target.cluster);
    if (ecs.hasService(target.cluster, target.service)) continue;
    const family = target.service;
    let taskDefinition = ecs.latestTaskDefinition(family);
    if (!taskDefinition?.containerDefinitions.some((c) => c.name === target.container)) {
      taskDefinition = ecs.registerTaskDefinition({
        family,
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: '256',
        memory: '512',
        containerDefinitions: [
          {
            name: target.container,
            image: notDeployedImage,
            essential: true,
            portMappings: [{ containerPort, protocol: 'tcp' }],
          },
        ],
        tags: [{ key: environmentTag, value: environment }],
      }).taskDefinition;
    }
    await ecs.createService({
      cluster: target.cluster,
      serviceName: target.service,
      taskDefinition: taskDefinition.taskDefinitionArn,
      desiredCount: 0,
      launchType: 'FARGATE',
      loadBalancers: [
        {
          containerName: target.container,
          containerPort,
          targetGroupArn: `arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/${target.service.slice(0, 20)}-local/0`,
        },
      ],
      deploymentConfiguration: {
        deploymentCircuitBreaker: { enable: true, rollback: true },
        maximumPercent: target.maximumPercent,
        minimumHealthyPercent: target.minimumHealthyPercent,
      },
      tags: [
        { key: environmentTag, value: environment },
        { key: healthPathTag, value: target.smokePath ?? '/' },
      ],
    });
  }
}
