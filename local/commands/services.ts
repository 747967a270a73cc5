import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ECSClient,
  ListClustersCommand,
  ListServicesCommand,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import type { ServiceView as ServiceRow } from '#local/console/api-types.ts';
import { type LocalCredentials, readLocalCredentials } from '#local/credentials.ts';
import { environmentTag } from '#local/ecs/configured-services.ts';
import { urlTag } from '#local/ecs/local-ecs.ts';
import { EcsStore } from '#local/ecs/store.ts';
import { localRegion } from '#local/s3.ts';
import { printable } from './terminal.ts';

type Write = (line: string) => void;

/** One line of `stepline services`, one object of `--json` (the console's services page shows the same). */
export type ServiceSummary = ServiceRow;

type Tags = { key?: string | undefined; value?: string | undefined }[] | undefined;

interface ServiceView {
  serviceName?: string | undefined;
  desiredCount?: number | undefined;
  loadBalancers?: { containerName?: string | undefined }[] | undefined;
  deployments?: { status?: string | undefined; rolloutState?: string | undefined }[] | undefined;
  tags?: Tags;
}

interface TaskDefinitionView {
  revision?: number | undefined;
  containerDefinitions?:
    | { name?: string | undefined; image?: string | undefined; essential?: boolean | undefined }[]
    | undefined;
}

function tag(tags: Tags, key: string) {
  return tags?.find((t) => t.key === key)?.value ?? null;
}

/** The container the service routes to: its load balancer's, else the first essential one. */
function serviceImage(service: ServiceView, definition: TaskDefinitionView | undefined) {
  const containers = definition?.containerDefinitions ?? [];
  const name = service.loadBalancers?.[0]?.containerName;
  const container = containers.find((c) => c.name === name) ?? containers.find((c) => c.essential !== false);
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(container?.image ?? '')?.[1];
  return digest ?? null;
}

function summarize(
  cluster: string,
  service: ServiceView,
  definition: { taskDefinition?: TaskDefinitionView | undefined; tags?: Tags } | undefined,
  counts: { running: number; healthy: number },
): ServiceSummary {
  const primary = service.deployments?.find((d) => d.status === 'PRIMARY');
  return {
    environment: tag(service.tags, environmentTag) ?? service.serviceName ?? '?',
    service: service.serviceName ?? '?',
    cluster,
    revision: definition?.taskDefinition?.revision ?? null,
    imageDigest: serviceImage(service, definition?.taskDefinition),
    commit: tag(definition?.tags, 'stepline:commit'),
    desired: service.desiredCount ?? 0,
    running: counts.running,
    healthy: counts.healthy,
    url: tag(service.tags, urlTag),
    rolloutState: primary?.rolloutState ?? null,
  };
}

/** The running runtime's ECS endpoint, when `runtime.json` names one whose process is alive. */
function runningEcsEndpoint(dataDir: string): string | undefined {
  const file = join(dataDir, 'runtime.json');
  if (!existsSync(file)) return undefined;
  try {
    const runtime = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number; ecsEndpoint?: string };
    if (!runtime.ecsEndpoint || !runtime.pid) return undefined;
    process.kill(runtime.pid, 0);
    return runtime.ecsEndpoint;
  } catch {
    return undefined;
  }
}

/** The services as the running local ECS answers for them, through the ECS API. */
export async function fromEndpoint(
  endpoint: string,
  credentials: LocalCredentials,
): Promise<ServiceSummary[]> {
  const ecs = new ECSClient({ endpoint, region: localRegion, credentials, maxAttempts: 1 });
  try {
    const out: ServiceSummary[] = [];
    const { clusterArns = [] } = await ecs.send(new ListClustersCommand({}));
    for (const clusterArn of clusterArns) {
      const cluster = clusterArn.split('/').at(-1)!;
      const { serviceArns = [] } = await ecs.send(new ListServicesCommand({ cluster }));
      for (let i = 0; i < serviceArns.length; i += 10) {
        const { services = [] } = await ecs.send(
          new DescribeServicesCommand({ cluster, services: serviceArns.slice(i, i + 10), include: ['TAGS'] }),
        );
        for (const service of services) {
          const definition = service.taskDefinition
            ? await ecs.send(
                new DescribeTaskDefinitionCommand({
                  taskDefinition: service.taskDefinition,
                  include: ['TAGS'],
                }),
              )
            : undefined;
          const { taskArns = [] } = await ecs.send(
            new ListTasksCommand({ cluster, serviceName: service.serviceName }),
          );
          const tasks =
            taskArns.length > 0
              ? ((await ecs.send(new DescribeTasksCommand({ cluster, tasks: taskArns }))).tasks ?? [])
              : [];
          out.push(
            summarize(cluster, service, definition, {
              running: tasks.filter((t) => t.lastStatus === 'RUNNING').length,
              healthy: tasks.filter((t) => t.lastStatus === 'RUNNING' && t.healthStatus === 'HEALTHY').length,
            }),
          );
        }
      }
    }
    return out;
  } finally {
    ecs.destroy();
  }
}

/** The services as stored in the data directory: their desired state; nothing runs. */
function fromStore(dataDir: string): ServiceSummary[] {
  if (!existsSync(join(dataDir, 'ecs'))) return [];
  const store = new EcsStore(dataDir);
  const definitions = new Map(
    store.readTaskDefinitions().map((r) => [r.taskDefinition.taskDefinitionArn, r]),
  );
  return store
    .readServices()
    .filter(({ service }) => service.status === 'ACTIVE')
    .map(({ cluster, service }) => {
      const definition = definitions.get(service.taskDefinition);
      const { loadBalancers } = service.extra as ServiceView;
      return summarize(cluster, { ...service, loadBalancers }, definition, { running: 0, healthy: 0 });
    });
}

/**
 * `stepline services`: each local ECS service with the revision, image digest and commit it runs,
 * its desired, running and healthy task counts and its URL. Asks the runtime that serves the data
 * directory when one runs (runtime.json), else reads the data directory (then nothing runs).
 */
export async function servicesCommand(
  dataDir: string,
  write: Write,
  options: { json?: boolean } = {},
): Promise<number> {
  const dir = resolve(dataDir);
  const endpoint = runningEcsEndpoint(dir);
  let services: ServiceSummary[];
  let live = false;
  if (endpoint) {
    try {
      services = await fromEndpoint(endpoint, await readLocalCredentials(dir));
      live = true;
    } catch {
      services = fromStore(dir);
    }
  } else services = fromStore(dir);
  services.sort((a, b) => a.environment.localeCompare(b.environment) || a.service.localeCompare(b.service));
  if (options.json) {
    write(JSON.stringify(services, null, 2));
    return 0;
  }
  if (services.length === 0) {
    write(`no services in ${dir}`);
    return 0;
  }
  if (!live)
    write(
      `no runtime serves ${dir}: showing the services' last desired state (npx stepline serve --data ${dataDir} runs them)`,
    );
  const rows = [
    ['ENVIRONMENT', 'SERVICE', 'REV', 'IMAGE', 'COMMIT', 'DESIRED', 'RUNNING', 'HEALTHY', 'URL'],
    ...services.map((s) =>
      [
        s.environment,
        s.service,
        s.revision === null ? '-' : String(s.revision),
        s.imageDigest ? s.imageDigest.slice(0, 19) : '-',
        s.commit ? s.commit.slice(0, 12) : '-',
        String(s.desired),
        String(s.running),
        String(s.healthy),
        live ? (s.url ?? '-') : '-',
      ].map((cell) => printable(cell)),
    ),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows)
    write(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  return 0;
}
