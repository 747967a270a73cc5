import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { z } from 'zod';
import { formatPath } from '#shared/format-zod-error.ts';
import {
  clusterArn,
  clusterName,
  parseArn,
  serviceArn,
  serviceName as serviceNameOf,
  taskArn,
  taskDefinitionArn,
  taskDefinitionRef,
  taskId as taskIdOf,
} from './arns.ts';
import {
  type ContainerExit,
  type Isolation,
  type RunningContainer,
  startContainer,
  usableBwrap,
  usablePodman,
} from './containers.ts';
import {
  ClientException,
  ClusterNotFoundException,
  InvalidParameterException,
  ResourceNotFoundException,
  ServiceNotActiveException,
  ServiceNotFoundException,
} from './errors.ts';
import { spawnRunner } from './host-executor.ts';
import { CannotPullContainerError, ImageCache, type ImageSource, type PreparedImage } from './images.ts';
import {
  type ContainerDefinition,
  CreateClusterRequest,
  CreateServiceRequest,
  DeleteServiceRequest,
  type Deployment,
  DeregisterTaskDefinitionRequest,
  DescribeClustersRequest,
  DescribeServicesRequest,
  DescribeTaskDefinitionRequest,
  DescribeTasksRequest,
  ListClustersRequest,
  ListServicesRequest,
  ListTagsForResourceRequest,
  ListTaskDefinitionsRequest,
  ListTasksRequest,
  RegisterTaskDefinitionRequest,
  RunTaskRequest,
  StopTaskRequest,
  type StoredService,
  type Tag,
  TagResourceRequest,
  type TaskDefinition,
  UntagResourceRequest,
  UpdateServiceRequest,
} from './model.ts';
import { ServiceProxy } from './proxy.ts';
import { EcsStore, type StoredCluster, type StoredTaskDefinition } from './store.ts';

/** The image that means "the bundled Stepline runner" rather than an image in a registry. */
export const runnerImage = 'stepline/runner:local';
/** The image of a configured service's first task definition: nothing deployed yet (desired count 0). */
export const notDeployedImage = 'stepline/not-deployed-yet';
/** Service tag naming the path the local load balancer checks (default `/`). */
export const healthPathTag = 'stepline:health-path';
/** Service tag the local ECS sets to the service's stable URL (its proxy). */
export const urlTag = 'stepline:url';

export interface EcsLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
}

/** How fast the local ECS looks at things. The defaults suit a person; tests go faster. */
export interface EcsTiming {
  /** Milliseconds between health checks until a task is first healthy. @default 500 */
  probeMs: number;
  /** Milliseconds between HTTP health checks once healthy. @default 5000 */
  httpIntervalMs: number;
  /** Milliseconds during which a task's HTTP port may refuse connections after start. @default 10000 */
  httpStartPeriodMs: number;
  /** First delay before relaunching after a failed task; doubles per failure. @default 500 */
  relaunchBackoffMs: number;
  /** Most a draining task waits for its requests in flight (the deregistration delay). @default 30000 */
  drainTimeoutMs: number;
  /** Seconds between SIGTERM and SIGKILL when the container names no stopTimeout. @default 10 */
  stopTimeoutSeconds: number;
}

const defaultTiming: EcsTiming = {
  probeMs: 500,
  httpIntervalMs: 5000,
  httpStartPeriodMs: 10_000,
  relaunchBackoffMs: 500,
  drainTimeoutMs: 30_000,
  stopTimeoutSeconds: 10,
};

export interface LocalEcsOptions {
  dataDir: string;
  /** Where service images come from (the local registry). */
  images: ImageSource;
  /** `process` (default) runs the image's unpacked root; `container` runs it with podman when usable. */
  mode?: 'process' | 'container';
  /** The bundled runner that `stepline/runner:local` tasks run. */
  runnerPath?: string;
  /** Container mode: a containers-auth.json (0600) with the registry's token, for podman's pulls. */
  registryAuthFile?: string;
  logger?: EcsLogger;
  timing?: Partial<EcsTiming>;
}

/** What RunTask learns when a Step Functions task launches it. */
export interface RunTaskContext {
  executionName: string;
  stateName: string;
  signal?: AbortSignal;
  /** Where the runner's output goes; default `<data>/ecs/logs/tasks/<task id>.log`. */
  logPath?: string;
  /** Called once the task's process has ended and its output is in the log. */
  onExit?: (exit: ContainerExit) => void;
}

type LastStatus =
  | 'PROVISIONING'
  | 'PENDING'
  | 'RUNNING'
  | 'DEACTIVATING'
  | 'STOPPING'
  | 'DEPROVISIONING'
  | 'STOPPED';

interface LocalTask {
  id: string;
  arn: string;
  cluster: string;
  taskDefinitionArn: string;
  group: string;
  startedBy?: string;
  service?: string;
  deploymentId?: string;
  lastStatus: LastStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  healthStatus: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  container: {
    name: string;
    image: string;
    imageDigest?: string;
    lastStatus: LastStatus;
    exitCode?: number;
    reason?: string;
    healthStatus: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  };
  createdAt: number;
  startedAt?: number;
  stoppingAt?: number;
  stoppedAt?: number;
  stoppedReason?: string;
  stopCode?: string;
  cpu?: string;
  memory?: string;
  overrides: Record<string, unknown>;
  tags: Tag[];
  port?: number;
  logPath?: string;
  running?: RunningContainer;
  stopRunner?: () => void;
}

interface ServiceRuntime {
  cluster: string;
  record: StoredService;
  proxy: ServiceProxy;
  /** Failures since the last task that got healthy: the relaunch backoff grows with them. */
  consecutiveFailures: number;
  nextLaunchAt: number;
  timer?: NodeJS.Timeout;
  scheduled: boolean;
  announcedMode: boolean;
}

const now = () => Date.now() / 1000;
const newTaskId = () => randomBytes(16).toString('hex');

/** A task as ECS records it at launch: PROVISIONING, its container PENDING, health unknown. */
function provisioningTask(
  cluster: string,
  definition: { taskDefinitionArn: string },
  container: { name: string; image: string },
  fields: Pick<LocalTask, 'group' | 'overrides' | 'tags'> &
    Partial<Pick<LocalTask, 'startedBy' | 'service' | 'deploymentId' | 'cpu' | 'memory'>>,
): LocalTask {
  const id = newTaskId();
  return {
    id,
    arn: taskArn(cluster, id),
    cluster,
    taskDefinitionArn: definition.taskDefinitionArn,
    lastStatus: 'PROVISIONING',
    desiredStatus: 'RUNNING',
    healthStatus: 'UNKNOWN',
    container: {
      name: container.name,
      image: container.image,
      lastStatus: 'PENDING',
      healthStatus: 'UNKNOWN',
    },
    createdAt: now(),
    ...fields,
  };
}
const newDeploymentId = () =>
  `ecs-svc/${randomInt(1, 9) * 10 ** 18 + randomInt(0, 10 ** 12) * 10 ** 6 + randomInt(0, 10 ** 6)}`;

/** ECS's circuit-breaker threshold: half the desired count, at least 3 and at most 200. */
export function failureThreshold(desiredCount: number): number {
  return Math.min(Math.max(3, Math.ceil(0.5 * desiredCount)), 200);
}

export function parseRequest<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new InvalidParameterException(
    parsed.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; '),
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function envList(list: { name: string; value: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((entry) => [entry.name, entry.value]));
}

function imageEnv(env: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/**
 * The local ECS: task definitions, clusters, services and tasks, kept under `<data>/ecs/` and
 * served by api-server.ts through ECS's own JSON protocol. RunTask of the `stepline/runner:local`
 * image starts the bundled runner; every other task runs its image from the registry (see
 * containers.ts). A service runs `desiredCount` tasks behind its own proxy port and rolls out a
 * new task definition as ECS does: new tasks within `maximumPercent`, old ones drained and stopped
 * once new ones are healthy, and a circuit breaker that fails the deployment and rolls back.
 */
export class LocalEcs {
  readonly #options: LocalEcsOptions;
  readonly #timing: EcsTiming;
  readonly #store: EcsStore;
  readonly #images: ImageCache;
  readonly #families = new Map<string, StoredTaskDefinition[]>();
  /** Families held in memory only, registered by the runtime at each start (the runner's). */
  readonly #builtIn = new Set<string>();
  readonly #clusters = new Map<string, StoredCluster>();
  readonly #services = new Map<string, ServiceRuntime>();
  readonly #tasks = new Map<string, LocalTask>();
  #closed = false;
  /** Set when close() begins: nothing new starts. */
  #closing = false;
  /** Task launches under way (image pulls, process starts), awaited by close(). */
  readonly #launches = new Set<Promise<unknown>>();

  private constructor(options: LocalEcsOptions) {
    this.#options = options;
    this.#timing = { ...defaultTiming, ...options.timing };
    this.#store = new EcsStore(options.dataDir);
    this.#images = new ImageCache(join(this.#store.root, 'roots'), options.images);
  }

  /** Loads the stored state and brings every service back to its desired state. */
  static async start(options: LocalEcsOptions): Promise<LocalEcs> {
    const ecs = new LocalEcs(options);
    for (const record of ecs.#store.readTaskDefinitions()) {
      const list = ecs.#families.get(record.taskDefinition.family) ?? [];
      list.push(record);
      ecs.#families.set(record.taskDefinition.family, list);
    }
    for (const list of ecs.#families.values())
      list.sort((a, b) => a.taskDefinition.revision - b.taskDefinition.revision);
    for (const cluster of ecs.#store.readClusters()) ecs.#clusters.set(cluster.name, cluster);
    for (const { cluster, service } of ecs.#store.readServices()) {
      if (service.status !== 'ACTIVE') continue;
      await ecs.#adoptService(cluster, service);
    }
    return ecs;
  }

  /** How service tasks run here: podman in container mode, else bubblewrap when it works, else plain processes. */
  get isolation(): Isolation {
    if (this.#options.mode === 'container' && usablePodman()) return 'podman';
    return usableBwrap() ? 'bwrap' : 'host';
  }

  // ---- task definitions ---------------------------------------------------------------

  /**
   * Registers a task definition the runtime owns (the runner's and the publisher's) as revision 1,
   * in memory: its environment names this runtime's endpoints, so it is made anew at each start.
   */
  registerBuiltIn(request: z.input<typeof RegisterTaskDefinitionRequest>): TaskDefinition {
    const parsed = parseRequest(RegisterTaskDefinitionRequest, request);
    const { tags = [], ...definition } = parsed;
    const taskDefinition: TaskDefinition = {
      ...definition,
      taskDefinitionArn: taskDefinitionArn(parsed.family, 1),
      revision: 1,
      status: 'ACTIVE',
      registeredAt: now(),
    };
    this.#builtIn.add(parsed.family);
    this.#families.set(parsed.family, [{ taskDefinition, tags }]);
    return taskDefinition;
  }

  registerTaskDefinition(body: unknown) {
    const request = parseRequest(RegisterTaskDefinitionRequest, body);
    if (this.#builtIn.has(request.family))
      throw new ClientException(
        `family ${request.family} belongs to the local runtime; register another family`,
      );
    const { tags = [], ...definition } = request;
    const list = this.#families.get(request.family) ?? [];
    const revision = (list.at(-1)?.taskDefinition.revision ?? 0) + 1;
    const taskDefinition: TaskDefinition = {
      ...definition,
      taskDefinitionArn: taskDefinitionArn(request.family, revision),
      revision,
      status: 'ACTIVE',
      registeredAt: now(),
    };
    const record = { taskDefinition, tags };
    this.#store.writeTaskDefinition(record);
    list.push(record);
    this.#families.set(request.family, list);
    return { taskDefinition, tags };
  }

  /** A task definition by ARN, `family:revision` or `family` (its latest ACTIVE revision). */
  #findTaskDefinition(reference: string): StoredTaskDefinition | undefined {
    const { family, revision } = taskDefinitionRef(reference);
    const list = this.#families.get(family) ?? [];
    if (revision === undefined) return list.filter((r) => r.taskDefinition.status === 'ACTIVE').at(-1);
    return list.find((r) => r.taskDefinition.revision === revision);
  }

  #taskDefinition(reference: string): StoredTaskDefinition {
    const found = this.#findTaskDefinition(reference);
    if (!found) throw new ClientException(`Unable to describe task definition: ${reference} does not exist.`);
    return found;
  }

  /** The latest ACTIVE revision of a family, if any. */
  latestTaskDefinition(family: string): TaskDefinition | undefined {
    return this.#findTaskDefinition(family)?.taskDefinition;
  }

  describeTaskDefinition(body: unknown) {
    const request = parseRequest(DescribeTaskDefinitionRequest, body);
    const record = this.#taskDefinition(request.taskDefinition);
    return {
      taskDefinition: record.taskDefinition,
      ...(request.include?.includes('TAGS') ? { tags: record.tags } : {}),
    };
  }

  deregisterTaskDefinition(body: unknown) {
    const request = parseRequest(DeregisterTaskDefinitionRequest, body);
    if (taskDefinitionRef(request.taskDefinition).revision === undefined)
      throw new ClientException(
        'The specified task definition does not exist: name a revision (family:revision).',
      );
    const record = this.#taskDefinition(request.taskDefinition);
    if (record.taskDefinition.status === 'ACTIVE') {
      record.taskDefinition = { ...record.taskDefinition, status: 'INACTIVE', deregisteredAt: now() };
      if (!this.#builtIn.has(record.taskDefinition.family)) this.#store.writeTaskDefinition(record);
    }
    return { taskDefinition: record.taskDefinition };
  }

  listTaskDefinitions(body: unknown) {
    const request = parseRequest(ListTaskDefinitionsRequest, body);
    const status = request.status ?? 'ACTIVE';
    const arns = [...this.#families.values()]
      .flat()
      .map((r) => r.taskDefinition)
      .filter(
        (d) => d.status === status && (!request.familyPrefix || d.family.startsWith(request.familyPrefix)),
      )
      .sort((a, b) => a.family.localeCompare(b.family) || a.revision - b.revision)
      .map((d) => d.taskDefinitionArn);
    if (request.sort === 'DESC') arns.reverse();
    return page(arns, request.maxResults, request.nextToken, 'taskDefinitionArns');
  }

  // ---- clusters -----------------------------------------------------------------------

  createCluster(body: unknown) {
    const request = parseRequest(CreateClusterRequest, body);
    const name = request.clusterName ?? 'default';
    let cluster = this.#clusters.get(name);
    if (!cluster) {
      cluster = { name, createdAt: now(), tags: request.tags ?? [] };
      this.#clusters.set(name, cluster);
      this.#store.writeCluster(cluster);
    }
    return { cluster: this.#describeCluster(cluster) };
  }

  /** Creates the cluster unless it exists. */
  ensureCluster(name: string): void {
    if (!this.#clusters.has(name)) this.createCluster({ clusterName: name });
  }

  #describeCluster(cluster: StoredCluster) {
    const services = [...this.#services.values()].filter((s) => s.cluster === cluster.name);
    const tasks = [...this.#tasks.values()].filter((t) => t.cluster === cluster.name);
    return {
      clusterArn: clusterArn(cluster.name),
      clusterName: cluster.name,
      status: 'ACTIVE',
      registeredContainerInstancesCount: 0,
      runningTasksCount: tasks.filter((t) => t.lastStatus === 'RUNNING').length,
      pendingTasksCount: tasks.filter((t) => t.lastStatus === 'PROVISIONING' || t.lastStatus === 'PENDING')
        .length,
      activeServicesCount: services.filter((s) => s.record.status === 'ACTIVE').length,
      capacityProviders: ['FARGATE'],
      tags: cluster.tags,
    };
  }

  listClusters(body: unknown) {
    const request = parseRequest(ListClustersRequest, body);
    const arns = [...this.#clusters.keys()].sort().map(clusterArn);
    return page(arns, request.maxResults, request.nextToken, 'clusterArns');
  }

  describeClusters(body: unknown) {
    const request = parseRequest(DescribeClustersRequest, body);
    const names = request.clusters ?? ['default'];
    const clusters = [];
    const failures = [];
    for (const value of names) {
      const cluster = this.#clusters.get(clusterName(value));
      if (cluster) clusters.push(this.#describeCluster(cluster));
      else failures.push({ arn: value.startsWith('arn:') ? value : clusterArn(value), reason: 'MISSING' });
    }
    return { clusters, failures };
  }

  #cluster(value: string | undefined): string {
    const name = clusterName(value);
    if (!this.#clusters.has(name)) throw new ClusterNotFoundException('Cluster not found.');
    return name;
  }

  // ---- services -----------------------------------------------------------------------

  #service(cluster: string, value: string): ServiceRuntime {
    const runtime = this.#services.get(`${cluster}/${serviceNameOf(value)}`);
    if (!runtime) throw new ServiceNotFoundException('Service not found.');
    return runtime;
  }

  async createService(body: unknown) {
    const request = parseRequest(CreateServiceRequest, body);
    const cluster = this.#cluster(request.cluster);
    const key = `${cluster}/${request.serviceName}`;
    const existing = this.#services.get(key);
    const definition = this.#taskDefinition(request.taskDefinition).taskDefinition;
    if (existing && existing.record.status === 'ACTIVE') {
      if (existing.record.taskDefinition === definition.taskDefinitionArn)
        return { service: this.#describeService(existing, true) };
      throw new InvalidParameterException('Creation of service was not idempotent.');
    }
    const {
      cluster: _cluster,
      serviceName,
      taskDefinition: _taskDefinition,
      desiredCount = 0,
      deploymentConfiguration = {},
      healthCheckGracePeriodSeconds,
      tags = [],
      ...extra
    } = request;
    this.#checkLoadBalancerContainers(extra.loadBalancers, definition);
    const createdAt = now();
    const deployment = this.#newDeployment(definition.taskDefinitionArn, desiredCount);
    const record: StoredService = {
      serviceArn: serviceArn(cluster, serviceName),
      serviceName,
      clusterArn: clusterArn(cluster),
      status: 'ACTIVE',
      taskDefinition: definition.taskDefinitionArn,
      desiredCount,
      deploymentConfiguration: {
        deploymentCircuitBreaker: {
          enable: deploymentConfiguration.deploymentCircuitBreaker?.enable ?? false,
          rollback: deploymentConfiguration.deploymentCircuitBreaker?.rollback ?? false,
        },
        maximumPercent: deploymentConfiguration.maximumPercent ?? 200,
        minimumHealthyPercent: deploymentConfiguration.minimumHealthyPercent ?? 100,
      },
      ...(healthCheckGracePeriodSeconds !== undefined ? { healthCheckGracePeriodSeconds } : {}),
      deployments: [deployment],
      events: [],
      createdAt,
      tags: tags.map((t) => ({ key: t.key, value: t.value })),
      extra,
    };
    const runtime = await this.#adoptService(cluster, record);
    return { service: this.#describeService(runtime, true) };
  }

  #checkLoadBalancerContainers(loadBalancers: unknown, definition: TaskDefinition): void {
    if (!Array.isArray(loadBalancers)) return;
    for (const lb of loadBalancers as { containerName?: unknown }[]) {
      const name = lb?.containerName;
      if (typeof name === 'string' && !definition.containerDefinitions.some((c) => c.name === name))
        throw new InvalidParameterException(
          `The container ${name} does not exist in the task definition ${definition.taskDefinitionArn}.`,
        );
    }
  }

  #newDeployment(taskDefinition: string, desiredCount: number): Deployment {
    const at = now();
    const id = newDeploymentId();
    return {
      id,
      status: 'PRIMARY',
      taskDefinition,
      desiredCount,
      pendingCount: 0,
      runningCount: 0,
      failedTasks: 0,
      createdAt: at,
      updatedAt: at,
      launchType: 'FARGATE',
      rolloutState: 'IN_PROGRESS',
      rolloutStateReason: `ECS deployment ${id} in progress.`,
    };
  }

  /** Starts a service's proxy (on its stored port when free) and scheduler. */
  async #adoptService(cluster: string, record: StoredService): Promise<ServiceRuntime> {
    const key = `${cluster}/${record.serviceName}`;
    const previous = this.#services.get(key);
    if (previous) await previous.proxy.close();
    const proxy = new ServiceProxy();
    const port = await proxy.listen(record.proxyPort);
    // The port it had is kept as the one to ask for next time, even when another process holds it now.
    record.proxyPort ??= port;
    record.tags = [
      ...record.tags.filter((t) => t.key !== urlTag),
      { key: urlTag, value: `http://127.0.0.1:${port}` },
    ];
    const runtime: ServiceRuntime = {
      cluster,
      record,
      proxy,
      consecutiveFailures: 0,
      nextLaunchAt: 0,
      scheduled: false,
      announcedMode: false,
    };
    this.#services.set(key, runtime);
    this.#persist(runtime);
    runtime.timer = setInterval(() => this.#schedule(runtime), 250);
    runtime.timer.unref();
    this.#schedule(runtime);
    return runtime;
  }

  hasService(cluster: string, service: string): boolean {
    return this.#services.get(`${cluster}/${service}`)?.record.status === 'ACTIVE';
  }

  async updateService(body: unknown) {
    const request = parseRequest(UpdateServiceRequest, body);
    const cluster = this.#cluster(request.cluster);
    const runtime = this.#service(cluster, request.service);
    const record = runtime.record;
    if (record.status !== 'ACTIVE') throw new ServiceNotActiveException('Service was not ACTIVE.');
    const definition = request.taskDefinition
      ? this.#taskDefinition(request.taskDefinition).taskDefinition
      : undefined;
    if (definition) this.#checkLoadBalancerContainers(record.extra.loadBalancers, definition);
    if (request.desiredCount !== undefined) record.desiredCount = request.desiredCount;
    if (request.healthCheckGracePeriodSeconds !== undefined)
      record.healthCheckGracePeriodSeconds = request.healthCheckGracePeriodSeconds;
    const config = request.deploymentConfiguration;
    if (config) {
      record.deploymentConfiguration = {
        deploymentCircuitBreaker: {
          enable:
            config.deploymentCircuitBreaker?.enable ??
            record.deploymentConfiguration.deploymentCircuitBreaker.enable,
          rollback:
            config.deploymentCircuitBreaker?.rollback ??
            record.deploymentConfiguration.deploymentCircuitBreaker.rollback,
        },
        maximumPercent: config.maximumPercent ?? record.deploymentConfiguration.maximumPercent,
        minimumHealthyPercent:
          config.minimumHealthyPercent ?? record.deploymentConfiguration.minimumHealthyPercent,
      };
    }
    const newDefinition = definition && definition.taskDefinitionArn !== record.taskDefinition;
    if (newDefinition || request.forceNewDeployment) {
      const target = definition?.taskDefinitionArn ?? record.taskDefinition;
      for (const d of record.deployments) {
        if (d.status !== 'PRIMARY') continue;
        d.status = 'ACTIVE';
        d.updatedAt = now();
      }
      record.deployments.unshift(this.#newDeployment(target, record.desiredCount));
      record.taskDefinition = target;
      runtime.consecutiveFailures = 0;
      runtime.nextLaunchAt = 0;
    }
    this.#persist(runtime);
    this.#schedule(runtime);
    return { service: this.#describeService(runtime, false) };
  }

  async deleteService(body: unknown) {
    const request = parseRequest(DeleteServiceRequest, body);
    const cluster = this.#cluster(request.cluster);
    const runtime = this.#service(cluster, request.service);
    if (runtime.record.desiredCount > 0 && !request.force)
      throw new InvalidParameterException('The service cannot be stopped while it is scaled above 0.');
    runtime.record.status = 'DRAINING';
    const description = this.#describeService(runtime, false);
    clearInterval(runtime.timer);
    await Promise.all(
      this.#liveTasks(runtime).map((t) =>
        this.#stopTask(runtime, t, 'Service deleted', 'ServiceSchedulerInitiated'),
      ),
    );
    runtime.record.status = 'INACTIVE';
    this.#persist(runtime);
    await runtime.proxy.close();
    this.#services.delete(`${cluster}/${runtime.record.serviceName}`);
    return { service: description };
  }

  describeServices(body: unknown) {
    const request = parseRequest(DescribeServicesRequest, body);
    const cluster = this.#cluster(request.cluster);
    const withTags = request.include?.includes('TAGS') ?? false;
    const services = [];
    const failures = [];
    for (const value of request.services) {
      const runtime = this.#services.get(`${cluster}/${serviceNameOf(value)}`);
      if (runtime) services.push(this.#describeService(runtime, withTags));
      else
        failures.push({
          arn: value.startsWith('arn:') ? value : serviceArn(cluster, value),
          reason: 'MISSING',
        });
    }
    return { services, failures };
  }

  listServices(body: unknown) {
    const request = parseRequest(ListServicesRequest, body);
    const cluster = this.#cluster(request.cluster);
    const arns = [...this.#services.values()]
      .filter((s) => s.cluster === cluster && s.record.status === 'ACTIVE')
      .map((s) => s.record.serviceArn)
      .sort();
    return page(arns, request.maxResults, request.nextToken, 'serviceArns');
  }

  /** Every active service, for `stepline services` and the runtime. */
  services(): { cluster: string; service: ReturnType<LocalEcs['describeServices']>['services'][number] }[] {
    return [...this.#services.values()]
      .filter((s) => s.record.status === 'ACTIVE')
      .map((s) => ({ cluster: s.cluster, service: this.#describeService(s, true) }));
  }

  #describeService(runtime: ServiceRuntime, withTags: boolean) {
    const { record } = runtime;
    const tasks = this.#liveTasks(runtime);
    const counts = (list: LocalTask[]) => ({
      runningCount: list.filter((t) => t.lastStatus === 'RUNNING').length,
      pendingCount: list.filter((t) => t.lastStatus === 'PROVISIONING' || t.lastStatus === 'PENDING').length,
    });
    const { extra, proxyPort: _port, lastCompleted: _last, tags, ...visible } = record;
    return {
      ...extra,
      ...visible,
      ...counts(tasks),
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      schedulingStrategy: 'REPLICA',
      deploymentController: { type: 'ECS' },
      loadBalancers: extra.loadBalancers ?? [],
      deployments: record.deployments.map(({ rollbackTo: _rollbackTo, ...d }) => {
        const own = tasks.filter((t) => t.deploymentId === d.id);
        return {
          ...d,
          ...counts(own),
          desiredCount:
            d.status === 'PRIMARY'
              ? record.desiredCount
              : own.filter((t) => t.desiredStatus === 'RUNNING').length,
        };
      }),
      ...(withTags ? { tags } : {}),
    };
  }

  // ---- tasks --------------------------------------------------------------------------

  #liveTasks(runtime: ServiceRuntime): LocalTask[] {
    return [...this.#tasks.values()].filter(
      (t) =>
        t.cluster === runtime.cluster &&
        t.service === runtime.record.serviceName &&
        t.lastStatus !== 'STOPPED',
    );
  }

  listTasks(body: unknown) {
    const request = parseRequest(ListTasksRequest, body);
    const cluster = this.#cluster(request.cluster);
    const service = request.serviceName
      ? this.#service(cluster, request.serviceName).record.serviceName
      : undefined;
    const wanted = request.desiredStatus ?? 'RUNNING';
    const arns = [...this.#tasks.values()]
      .filter(
        (t) =>
          t.cluster === cluster &&
          (service === undefined || t.service === service) &&
          (request.family === undefined ||
            taskDefinitionRef(t.taskDefinitionArn).family === request.family) &&
          (request.startedBy === undefined || t.startedBy === request.startedBy) &&
          (wanted === 'STOPPED' ? t.desiredStatus === 'STOPPED' : t.desiredStatus === 'RUNNING'),
      )
      .map((t) => t.arn);
    return page(arns, request.maxResults, request.nextToken, 'taskArns');
  }

  describeTasks(body: unknown) {
    const request = parseRequest(DescribeTasksRequest, body);
    const cluster = this.#cluster(request.cluster);
    const tasks = [];
    const failures = [];
    for (const value of request.tasks) {
      const task = this.#tasks.get(taskIdOf(value));
      if (task && task.cluster === cluster)
        tasks.push(this.#describeTask(task, request.include?.includes('TAGS') ?? false));
      else
        failures.push({ arn: value.startsWith('arn:') ? value : taskArn(cluster, value), reason: 'MISSING' });
    }
    return { tasks, failures };
  }

  #describeTask(task: LocalTask, withTags = true) {
    return {
      taskArn: task.arn,
      clusterArn: clusterArn(task.cluster),
      taskDefinitionArn: task.taskDefinitionArn,
      group: task.group,
      ...(task.startedBy ? { startedBy: task.startedBy } : {}),
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      healthStatus: task.healthStatus,
      launchType: 'FARGATE',
      platformVersion: '1.4.0',
      ...(task.cpu ? { cpu: task.cpu } : {}),
      ...(task.memory ? { memory: task.memory } : {}),
      containers: [
        {
          containerArn: `${task.arn.replace(':task/', ':container/')}/${randomUUIDFor(task.id, task.container.name)}`,
          taskArn: task.arn,
          name: task.container.name,
          image: task.container.image,
          ...(task.container.imageDigest ? { imageDigest: task.container.imageDigest } : {}),
          lastStatus: task.container.lastStatus,
          ...(task.container.exitCode !== undefined ? { exitCode: task.container.exitCode } : {}),
          ...(task.container.reason ? { reason: task.container.reason } : {}),
          healthStatus: task.container.healthStatus,
          ...(task.port
            ? {
                networkBindings: [
                  { bindIP: '127.0.0.1', hostPort: task.port, containerPort: task.port, protocol: 'tcp' },
                ],
              }
            : {}),
        },
      ],
      overrides: task.overrides,
      createdAt: task.createdAt,
      ...(task.startedAt ? { startedAt: task.startedAt } : {}),
      ...(task.stoppingAt ? { stoppingAt: task.stoppingAt } : {}),
      ...(task.stoppedAt ? { stoppedAt: task.stoppedAt } : {}),
      ...(task.stoppedReason ? { stoppedReason: task.stoppedReason } : {}),
      ...(task.stopCode ? { stopCode: task.stopCode } : {}),
      ...(withTags ? { tags: task.tags } : {}),
    };
  }

  /**
   * RunTask: starts `count` tasks of a task definition, each container's environment being the
   * task definition's, then the matching container override's. The `stepline/runner:local` image
   * is the bundled runner; any other image is pulled and run like a service's.
   */
  async runTask(body: unknown, context?: RunTaskContext) {
    const request = parseRequest(RunTaskRequest, body);
    const cluster = this.#cluster(request.cluster);
    const record = this.#taskDefinition(request.taskDefinition);
    const definition = record.taskDefinition;
    if (definition.status !== 'ACTIVE')
      throw new ClientException(`TaskDefinition is inactive: ${definition.taskDefinitionArn}`);
    const overrides = request.overrides?.containerOverrides ?? [];
    for (const override of overrides) {
      if (!definition.containerDefinitions.some((c) => c.name === override.name))
        throw new InvalidParameterException(
          `Override for container named ${override.name} is not a container in the TaskDefinition.`,
        );
    }
    const container = essentialContainer(definition);
    const override = overrides.find((o) => o.name === container.name);
    const env = { ...envList(container.environment), ...envList(override?.environment) };
    const cpu = request.overrides?.cpu ?? definition.cpu;
    const memory = request.overrides?.memory ?? definition.memory;
    context?.signal?.throwIfAborted();
    const tasks = [];
    for (let i = 0; i < (request.count ?? 1); i++) {
      const task = provisioningTask(cluster, definition, container, {
        group: request.group ?? `family:${definition.family}`,
        ...(request.startedBy ? { startedBy: request.startedBy } : {}),
        ...(cpu ? { cpu } : {}),
        ...(memory ? { memory } : {}),
        overrides: { containerOverrides: overrides, inferenceAcceleratorOverrides: [] },
        tags: request.tags ?? [],
      });
      this.#tasks.set(task.id, task);
      this.#forgetOldTasks();
      if (container.image === runnerImage) await this.#startRunner(task, env, context);
      else this.#track(this.#startImageTask(task, container, env, context));
      tasks.push(this.#describeTask(task));
    }
    return { tasks, failures: [] };
  }

  async #startRunner(task: LocalTask, env: Record<string, string>, context: RunTaskContext | undefined) {
    if (!this.#options.runnerPath)
      throw new ClientException('this runtime has no runner bundle to run stepline/runner:local');
    const logPath = context?.logPath ?? join(this.#store.root, 'logs', 'tasks', `${task.id}.log`);
    task.logPath = logPath;
    try {
      const started = await spawnRunner({
        runnerPath: this.#options.runnerPath,
        env,
        logPath,
        ...(context?.signal ? { signal: context.signal } : {}),
        ...(this.#options.logger ? { logger: this.#options.logger } : {}),
        onExit: (exit) => {
          this.#markStopped(
            task,
            exit,
            task.desiredStatus === 'STOPPED' ? task.stoppedReason : 'Essential container in task exited',
          );
          context?.onExit?.(exit);
        },
      });
      task.stopRunner = started.stop;
      task.lastStatus = 'RUNNING';
      task.container.lastStatus = 'RUNNING';
      task.startedAt = now();
    } catch (error) {
      this.#markStopped(
        task,
        { code: null, signal: null },
        `CannotStartContainerError: ${(error as Error).message}`,
        'TaskFailedToStart',
      );
      throw error;
    }
  }

  async #startImageTask(
    task: LocalTask,
    container: ContainerDefinition,
    env: Record<string, string>,
    context: RunTaskContext | undefined,
  ): Promise<void> {
    try {
      await this.#launchContainer(
        task,
        container,
        env,
        context?.logPath ?? join(this.#store.root, 'logs', 'tasks', `${task.id}.log`),
      );
      void task.running!.exited.then((exit) => {
        this.#markStopped(
          task,
          exit,
          task.desiredStatus === 'STOPPED' ? task.stoppedReason : 'Essential container in task exited',
        );
        context?.onExit?.(exit);
      });
    } catch (error) {
      const reason =
        error instanceof CannotPullContainerError
          ? `CannotPullContainerError: ${error.message}`
          : `CannotStartContainerError: ${(error as Error).message}`;
      this.#markStopped(task, { code: null, signal: null }, reason, 'TaskFailedToStart');
      context?.onExit?.({ code: null, signal: null });
    }
  }

  /** Pulls the image and starts the container of `task`, which is RUNNING once it returns. */
  async #launchContainer(
    task: LocalTask,
    container: ContainerDefinition,
    env: Record<string, string>,
    logPath: string,
  ) {
    if (container.image === notDeployedImage)
      throw new CannotPullContainerError(
        `${notDeployedImage} is the placeholder of a service nothing was deployed to yet: deploy an image first`,
      );
    const image: PreparedImage = await this.#images.prepare(container.image);
    if (task.desiredStatus === 'STOPPED' || this.#closing)
      throw new Error('the task was stopped before it started');
    task.lastStatus = 'PENDING';
    task.container.imageDigest = image.manifestDigest;
    const port = await freePort();
    const config = image.config;
    const entrypoint = container.entryPoint ?? config.Entrypoint ?? [];
    const command = container.command ?? (container.entryPoint ? [] : (config.Cmd ?? []));
    const environment = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...imageEnv(config.Env),
      ...env,
      PORT: String(port),
    };
    task.port = port;
    task.logPath = logPath;
    task.running = await startContainer(
      {
        taskId: task.id,
        image,
        argv: [...entrypoint, ...command],
        env: environment,
        workdir: container.workingDirectory ?? (config.WorkingDir || '/'),
        logPath,
        podmanStorage: join(this.#store.root, 'podman'),
        ...(this.#options.registryAuthFile ? { registryAuthFile: this.#options.registryAuthFile } : {}),
      },
      this.isolation,
    );
    // Stopped (or the runtime closing) while the container started.
    if ((task.desiredStatus as LocalTask['desiredStatus']) === 'STOPPED' || this.#closing) {
      await task.running.stop(0);
      throw new Error('the task was stopped while it started');
    }
    task.lastStatus = 'RUNNING';
    task.container.lastStatus = 'RUNNING';
    task.startedAt = now();
  }

  #track(launch: Promise<unknown>): void {
    this.#launches.add(launch);
    void launch.finally(() => this.#launches.delete(launch));
  }

  #markStopped(
    task: LocalTask,
    exit: ContainerExit,
    reason: string | undefined,
    stopCode = 'EssentialContainerExited',
  ) {
    if (task.lastStatus === 'STOPPED') return;
    task.lastStatus = 'STOPPED';
    task.container.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stoppedAt = now();
    if (!task.stoppingAt) task.stoppingAt = task.stoppedAt;
    if (exit.code !== null) task.container.exitCode = exit.code;
    if (!task.stoppedReason && reason) task.stoppedReason = reason;
    if (!task.stopCode) task.stopCode = stopCode;
    if (!task.container.reason && reason && stopCode === 'TaskFailedToStart') task.container.reason = reason;
  }

  /** Stopped tasks stay visible for an hour, as on ECS, and at most 1000 of them. */
  #forgetOldTasks(): void {
    const stopped = [...this.#tasks.values()].filter((t) => t.lastStatus === 'STOPPED');
    const cutoff = now() - 3600;
    const excess = stopped.length - 1000;
    stopped.forEach((t, i) => {
      if (i < excess || (t.stoppedAt ?? 0) < cutoff) this.#tasks.delete(t.id);
    });
  }

  async stopTask(body: unknown) {
    const request = parseRequest(StopTaskRequest, body);
    const cluster = this.#cluster(request.cluster);
    const task = this.#tasks.get(taskIdOf(request.task));
    if (!task || task.cluster !== cluster)
      throw new InvalidParameterException('The referenced task was not found.');
    const reason = request.reason ?? 'Task stopped by user';
    const runtime = task.service ? this.#services.get(`${cluster}/${task.service}`) : undefined;
    if (runtime) void this.#stopTask(runtime, task, reason, 'UserInitiated');
    else {
      task.desiredStatus = 'STOPPED';
      task.stoppedReason ??= reason;
      task.stopCode ??= 'UserInitiated';
      task.stoppingAt = now();
      task.stopRunner?.();
      void task.running?.stop(this.#timing.stopTimeoutSeconds);
    }
    return { task: this.#describeTask(task) };
  }

  // ---- tags ---------------------------------------------------------------------------

  #tagsOf(resourceArn: string): { get(): Tag[]; set(tags: Tag[]): void } {
    const arn = parseArn(resourceArn);
    if (arn?.type === 'service') {
      const [cluster, name] = arn.path.includes('/') ? arn.path.split('/') : ['default', arn.path];
      const runtime = this.#services.get(`${cluster}/${name}`);
      if (runtime)
        return {
          get: () => runtime.record.tags,
          set: (tags) => {
            runtime.record.tags = tags.map((t) => ({ key: t.key, value: t.value }));
            this.#persist(runtime);
          },
        };
    }
    if (arn?.type === 'task-definition') {
      const record = this.#findTaskDefinition(resourceArn);
      if (record)
        return {
          get: () => record.tags,
          set: (tags) => {
            record.tags = tags;
            if (!this.#builtIn.has(record.taskDefinition.family)) this.#store.writeTaskDefinition(record);
          },
        };
    }
    if (arn?.type === 'cluster') {
      const cluster = this.#clusters.get(arn.path);
      if (cluster)
        return {
          get: () => cluster.tags,
          set: (tags) => {
            cluster.tags = tags;
            this.#store.writeCluster(cluster);
          },
        };
    }
    if (arn?.type === 'task') {
      const task = this.#tasks.get(taskIdOf(resourceArn));
      if (task) return { get: () => task.tags, set: (tags) => (task.tags = tags) };
    }
    if (!arn) throw new InvalidParameterException(`resourceArn: "${resourceArn}" is not an ECS ARN`);
    throw new ResourceNotFoundException('The specified resource could not be found.');
  }

  tagResource(body: unknown) {
    const request = parseRequest(TagResourceRequest, body);
    const tags = this.#tagsOf(request.resourceArn);
    const byKey = new Map(tags.get().map((t) => [t.key, t]));
    for (const tag of request.tags) byKey.set(tag.key, tag);
    tags.set([...byKey.values()]);
    return {};
  }

  untagResource(body: unknown) {
    const request = parseRequest(UntagResourceRequest, body);
    const tags = this.#tagsOf(request.resourceArn);
    tags.set(tags.get().filter((t) => !request.tagKeys.includes(t.key)));
    return {};
  }

  listTagsForResource(body: unknown) {
    const request = parseRequest(ListTagsForResourceRequest, body);
    return { tags: this.#tagsOf(request.resourceArn).get() };
  }

  // ---- the service scheduler ----------------------------------------------------------

  #persist(runtime: ServiceRuntime): void {
    if (this.#closed) return;
    try {
      this.#store.writeService(runtime.cluster, runtime.record);
    } catch (error) {
      this.#options.logger?.warn('cannot write a service record', {
        service: runtime.record.serviceName,
        error: String(error),
      });
    }
  }

  #event(runtime: ServiceRuntime, message: string): void {
    runtime.record.events.unshift({
      id: randomUUID(),
      createdAt: now(),
      message: `(service ${runtime.record.serviceName}) ${message}`,
    });
    runtime.record.events.length = Math.min(runtime.record.events.length, 100);
  }

  #targetGroup(runtime: ServiceRuntime): string {
    return `arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/${runtime.record.serviceName.slice(0, 20)}-local/${runtime.record.proxyPort ?? 0}`;
  }

  #schedule(runtime: ServiceRuntime): void {
    if (runtime.scheduled || this.#closing) return;
    runtime.scheduled = true;
    setImmediate(() => {
      runtime.scheduled = false;
      if (this.#closing || runtime.record.status !== 'ACTIVE') return;
      try {
        this.#reconcile(runtime);
      } catch (error) {
        this.#options.logger?.warn('the local ECS scheduler failed', {
          service: runtime.record.serviceName,
          error: String(error),
        });
      }
    });
  }

  /** One look at a service: start, drain and stop tasks to move it toward its desired state. */
  #reconcile(runtime: ServiceRuntime): void {
    const { record } = runtime;
    const primary = record.deployments.find((d) => d.status === 'PRIMARY');
    if (!primary) return;
    const desired = record.desiredCount;
    const { maximumPercent, minimumHealthyPercent } = record.deploymentConfiguration;
    const live = this.#liveTasks(runtime);
    const running = live.filter((t) => t.desiredStatus === 'RUNNING');
    const healthy = (t: LocalTask) => t.healthStatus === 'HEALTHY' && runtime.proxy.isRegistered(t.id);
    const primaryTasks = running.filter((t) => t.deploymentId === primary.id);
    const oldTasks = running.filter((t) => t.deploymentId !== primary.id);
    const primaryHealthy = primaryTasks.filter(healthy).length;
    const maxTasks = Math.max(Math.floor((desired * maximumPercent) / 100), desired > 0 ? 1 : 0);
    const minHealthy = Math.ceil((desired * minimumHealthyPercent) / 100);
    const toStop: { task: LocalTask; reason: string }[] = [];

    // Too many tasks of the current revision: stop the ones not serving first.
    if (primaryTasks.length > desired) {
      const order = [...primaryTasks].sort((a, b) => Number(healthy(a)) - Number(healthy(b)));
      for (const task of order.slice(0, primaryTasks.length - desired))
        toStop.push({ task, reason: `Scaling activity initiated by (deployment ${primary.id})` });
    }
    // Tasks of older revisions that do not serve go at once; serving ones as new ones get healthy.
    const oldServing = oldTasks.filter(healthy);
    for (const task of oldTasks.filter((t) => !healthy(t)))
      toStop.push({ task, reason: `Scaling activity initiated by (deployment ${primary.id})` });
    let healthyTotal = primaryHealthy + oldServing.length;
    let keep = Math.max(0, desired - primaryHealthy);
    const launching = primary.rolloutState !== 'FAILED' && Date.now() >= runtime.nextLaunchAt;
    const need = Math.max(0, desired - primaryTasks.length);
    const room = Math.max(0, maxTasks - live.length);
    const start = launching ? Math.min(need, room) : 0;
    // Without room to start new tasks, make some by stopping old ones, down to minimumHealthyPercent.
    if (launching && need > start) keep = Math.min(keep, Math.max(0, oldServing.length - (need - start)));
    for (const task of oldServing.slice(0, Math.max(0, oldServing.length - keep))) {
      if (healthyTotal - 1 < minHealthy && primary.rolloutState !== 'FAILED') break;
      toStop.push({ task, reason: `Scaling activity initiated by (deployment ${primary.id})` });
      healthyTotal--;
    }

    if (toStop.length > 0) this.#stopMany(runtime, toStop);
    if (start > 0) this.#startMany(runtime, primary, start);

    // Completed: every task is of the current revision and healthy, nothing else runs.
    const others = live.filter((t) => t.deploymentId !== primary.id);
    if (
      primary.rolloutState === 'IN_PROGRESS' &&
      primaryHealthy === desired &&
      primaryTasks.length === desired &&
      others.length === 0
    ) {
      primary.rolloutState = 'COMPLETED';
      primary.rolloutStateReason = `ECS deployment ${primary.id} completed.`;
      primary.updatedAt = now();
      record.lastCompleted = { id: primary.id, taskDefinition: primary.taskDefinition };
      record.deployments = record.deployments.filter((d) => d.status === 'PRIMARY');
      this.#event(runtime, `(deployment ${primary.id}) deployment completed.`);
      this.#event(runtime, 'has reached a steady state.');
      this.#persist(runtime);
    } else if (primary.rolloutState !== 'IN_PROGRESS' && record.deployments.length > 1) {
      // Old deployments whose tasks are all gone leave the list, as on ECS.
      const before = record.deployments.length;
      record.deployments = record.deployments.filter(
        (d) => d.status === 'PRIMARY' || live.some((t) => t.deploymentId === d.id),
      );
      if (record.deployments.length !== before) this.#persist(runtime);
    }
  }

  #startMany(runtime: ServiceRuntime, deployment: Deployment, count: number): void {
    const record = this.#findTaskDefinition(deployment.taskDefinition);
    if (!record) {
      this.#event(
        runtime,
        `was unable to place a task. Reason: ClientException: task definition ${deployment.taskDefinition} does not exist.`,
      );
      this.#taskFailed(runtime, deployment.id);
      return;
    }
    const definition = record.taskDefinition;
    const container = serviceContainer(definition, runtime.record.extra.loadBalancers);
    if (!runtime.announcedMode) {
      runtime.announcedMode = true;
      const mode = this.isolation;
      this.#event(
        runtime,
        mode === 'bwrap'
          ? 'runs its tasks locally as processes in bubblewrap sandboxes, the image root as /.'
          : mode === 'podman'
            ? 'runs its tasks locally as podman containers.'
            : 'runs its tasks locally as plain processes in the image root (bubblewrap is not usable here).',
      );
    }
    const started: LocalTask[] = [];
    for (let i = 0; i < count; i++) {
      const task = provisioningTask(runtime.cluster, definition, container, {
        group: `service:${runtime.record.serviceName}`,
        startedBy: deployment.id,
        service: runtime.record.serviceName,
        deploymentId: deployment.id,
        ...(definition.cpu ? { cpu: definition.cpu } : {}),
        ...(definition.memory ? { memory: definition.memory } : {}),
        overrides: { containerOverrides: [], inferenceAcceleratorOverrides: [] },
        tags: [],
      });
      this.#tasks.set(task.id, task);
      started.push(task);
      this.#track(this.#runServiceTask(runtime, task, container));
    }
    this.#forgetOldTasks();
    this.#event(
      runtime,
      `has started ${started.length} tasks: ${started.map((t) => `(task ${t.id})`).join(' ')}.`,
    );
    this.#persist(runtime);
  }

  async #runServiceTask(
    runtime: ServiceRuntime,
    task: LocalTask,
    container: ContainerDefinition,
  ): Promise<void> {
    const logPath = join(this.#store.root, 'logs', runtime.record.serviceName, `${task.id}.log`);
    try {
      await this.#launchContainer(task, container, envList(container.environment), logPath);
    } catch (error) {
      if (task.desiredStatus === 'STOPPED') {
        this.#markStopped(task, { code: null, signal: null }, task.stoppedReason);
        return;
      }
      const pull = error instanceof CannotPullContainerError;
      const reason = pull
        ? `CannotPullContainerError: ${error.message}`
        : `CannotStartContainerError: ${(error as Error).message}`;
      this.#markStopped(task, { code: null, signal: null }, reason, 'TaskFailedToStart');
      this.#event(runtime, `was unable to place a task. Reason: ${reason}.`);
      this.#taskFailed(runtime, task.deploymentId);
      return;
    }
    void task.running!.exited.then((exit) => {
      const expected = task.desiredStatus === 'STOPPED';
      if (!expected) {
        void runtime.proxy.deregister(task.id, 0);
        this.#markStopped(task, exit, 'Essential container in task exited');
        this.#event(runtime, `has stopped 1 running tasks: (task ${task.id}).`);
        this.#event(
          runtime,
          `(task ${task.id}) essential container ${task.container.name} exited with ${exit.signal ?? `code ${exit.code}`}; its output is in ${logPath}`,
        );
        this.#taskFailed(runtime, task.deploymentId);
      } else this.#markStopped(task, exit, task.stoppedReason);
      this.#schedule(runtime);
    });
    void this.#watchHealth(runtime, task, container);
  }

  /** Probes a task until it stops: HEALTHY puts it behind the proxy, UNHEALTHY stops it. */
  async #watchHealth(
    runtime: ServiceRuntime,
    task: LocalTask,
    container: ContainerDefinition,
  ): Promise<void> {
    const check =
      container.healthCheck && container.healthCheck.command[0] !== 'NONE'
        ? container.healthCheck
        : undefined;
    const healthPath = runtime.record.tags.find((t) => t.key === healthPathTag)?.value || '/';
    const retries = check?.retries ?? 3;
    const startedAt = Date.now();
    const startPeriodMs = check
      ? (check.startPeriod ?? 0) * 1000
      : (runtime.record.healthCheckGracePeriodSeconds ?? 0) * 1000 || this.#timing.httpStartPeriodMs;
    let failures = 0;
    let lastReason = '';
    while (task.desiredStatus === 'RUNNING' && task.lastStatus === 'RUNNING' && !this.#closed) {
      const intervalMs =
        task.healthStatus === 'HEALTHY'
          ? check
            ? (check.interval ?? 30) * 1000
            : this.#timing.httpIntervalMs
          : this.#timing.probeMs;
      await sleep(intervalMs);
      if (task.desiredStatus !== 'RUNNING' || task.lastStatus !== 'RUNNING' || this.#closed) return;
      let ok: boolean;
      let countable = true;
      if (check) {
        const argv =
          check.command[0] === 'CMD-SHELL'
            ? ['/bin/sh', '-c', check.command.slice(1).join(' ')]
            : check.command.slice(1);
        const code = await task.running!.exec(argv, (check.timeout ?? 5) * 1000);
        ok = code === 0;
      } else {
        const result = await httpProbe(task.port!, healthPath, 5000);
        ok = result.ok;
        lastReason = result.reason;
        // A port that does not answer yet is a task still starting, within the start period.
        countable = result.answered || Date.now() - startedAt > startPeriodMs;
      }
      if (task.desiredStatus !== 'RUNNING' || task.lastStatus !== 'RUNNING') return;
      if (ok) {
        failures = 0;
        if (task.healthStatus !== 'HEALTHY') {
          task.healthStatus = 'HEALTHY';
          task.container.healthStatus = 'HEALTHY';
          runtime.proxy.register(task.id, task.port!);
          runtime.consecutiveFailures = 0;
          this.#event(runtime, `registered 1 targets in (target-group ${this.#targetGroup(runtime)})`);
          this.#persist(runtime);
          this.#schedule(runtime);
        }
        continue;
      }
      if (check && Date.now() - startedAt < startPeriodMs && task.healthStatus !== 'HEALTHY') continue;
      if (countable) failures++;
      if (failures < retries) continue;
      task.healthStatus = 'UNHEALTHY';
      task.container.healthStatus = 'UNHEALTHY';
      this.#event(
        runtime,
        check
          ? `(task ${task.id}) failed container health checks.`
          : `(task ${task.id}) (port ${task.port}) is unhealthy in (target-group ${this.#targetGroup(runtime)}) due to (reason ${lastReason}).`,
      );
      const reason = check
        ? 'Task failed container health checks'
        : 'Task failed ELB health checks in (target-group)';
      this.#stopMany(runtime, [{ task, reason }]);
      this.#taskFailed(runtime, task.deploymentId);
      return;
    }
  }

  /** A task of `deploymentId` failed: count it, back off, and trip the circuit breaker at ECS's threshold. */
  #taskFailed(runtime: ServiceRuntime, deploymentId: string | undefined): void {
    const { record } = runtime;
    runtime.consecutiveFailures++;
    runtime.nextLaunchAt =
      Date.now() + Math.min(this.#timing.relaunchBackoffMs * 2 ** (runtime.consecutiveFailures - 1), 30_000);
    const deployment = record.deployments.find((d) => d.id === deploymentId);
    if (deployment && deployment.rolloutState === 'IN_PROGRESS') {
      deployment.failedTasks++;
      deployment.updatedAt = now();
      const breaker = record.deploymentConfiguration.deploymentCircuitBreaker;
      if (breaker.enable && deployment.failedTasks >= failureThreshold(record.desiredCount))
        this.#trip(runtime, deployment);
    }
    this.#persist(runtime);
    this.#schedule(runtime);
  }

  #trip(runtime: ServiceRuntime, failed: Deployment): void {
    const { record } = runtime;
    failed.rolloutState = 'FAILED';
    failed.rolloutStateReason = 'ECS deployment circuit breaker: tasks failed to start.';
    failed.updatedAt = now();
    this.#event(runtime, `(deployment ${failed.id}) deployment failed: tasks failed to start.`);
    const target = record.lastCompleted;
    if (
      record.deploymentConfiguration.deploymentCircuitBreaker.rollback &&
      failed.status === 'PRIMARY' &&
      // A rollback that fails in turn is not rolled back again.
      failed.rollbackTo === undefined &&
      target &&
      target.id !== failed.id
    ) {
      this.#event(runtime, `rolling back to deployment ${target.id}.`);
      failed.status = 'ACTIVE';
      // A rollback is a deployment of its own, of the last completed revision: the tasks of that
      // revision keep serving until the rollback's new tasks are healthy, as in any rollout.
      const back = {
        ...this.#newDeployment(target.taskDefinition, record.desiredCount),
        rollbackTo: target.id,
      };
      record.deployments = [back, ...record.deployments];
      record.taskDefinition = back.taskDefinition;
      runtime.consecutiveFailures = 0;
      runtime.nextLaunchAt = 0;
    }
    const leftovers = this.#liveTasks(runtime).filter(
      (t) => t.deploymentId === failed.id && t.desiredStatus === 'RUNNING',
    );
    if (leftovers.length > 0)
      this.#stopMany(
        runtime,
        leftovers.map((task) => ({
          task,
          reason: `Scaling activity initiated by (deployment ${failed.id})`,
        })),
      );
  }

  /** Drains (when behind the proxy) and stops tasks, with ECS's events. */
  #stopMany(runtime: ServiceRuntime, list: { task: LocalTask; reason: string }[]): void {
    const fresh = list.filter(({ task }) => task.desiredStatus === 'RUNNING');
    if (fresh.length === 0) return;
    const draining = fresh.filter(({ task }) => runtime.proxy.isRegistered(task.id));
    if (draining.length > 0) {
      this.#event(runtime, `has begun draining connections on ${draining.length} tasks.`);
      this.#event(
        runtime,
        `deregistered ${draining.length} targets in (target-group ${this.#targetGroup(runtime)})`,
      );
    }
    this.#event(
      runtime,
      `has stopped ${fresh.length} running tasks: ${fresh.map(({ task }) => `(task ${task.id})`).join(' ')}.`,
    );
    for (const { task, reason } of fresh)
      void this.#stopTask(runtime, task, reason, 'ServiceSchedulerInitiated');
    this.#persist(runtime);
  }

  async #stopTask(runtime: ServiceRuntime, task: LocalTask, reason: string, stopCode: string): Promise<void> {
    if (task.desiredStatus === 'STOPPED' && task.lastStatus === 'STOPPED') return;
    task.desiredStatus = 'STOPPED';
    task.stoppedReason ??= reason;
    task.stopCode ??= stopCode;
    task.stoppingAt = now();
    if (task.lastStatus === 'RUNNING') task.lastStatus = 'DEACTIVATING';
    await runtime.proxy.deregister(task.id, this.#timing.drainTimeoutMs);
    if (task.running) {
      task.lastStatus = task.lastStatus === 'STOPPED' ? 'STOPPED' : 'STOPPING';
      const definition = this.#findTaskDefinition(task.taskDefinitionArn)?.taskDefinition;
      const stopTimeout = definition?.containerDefinitions.find(
        (c) => c.name === task.container.name,
      )?.stopTimeout;
      const exit = await task.running.stop(stopTimeout ?? this.#timing.stopTimeoutSeconds);
      this.#markStopped(task, exit, reason, stopCode);
    } else if (task.lastStatus !== 'PROVISIONING' && task.lastStatus !== 'PENDING') {
      this.#markStopped(task, { code: null, signal: null }, reason, stopCode);
    }
    this.#schedule(runtime);
  }

  /** Stops every task (services come back at the next start) and the proxies. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const stops: Promise<unknown>[] = [];
    for (const runtime of this.#services.values()) {
      clearInterval(runtime.timer);
      for (const task of this.#liveTasks(runtime)) {
        task.desiredStatus = 'STOPPED';
        stops.push(runtime.proxy.deregister(task.id, 2000).then(() => task.running?.stop(5)));
      }
    }
    for (const task of this.#tasks.values()) {
      if (!task.service && task.lastStatus !== 'STOPPED') {
        task.stopRunner?.();
        if (task.running) stops.push(task.running.stop(5));
      }
    }
    await Promise.allSettled(stops);
    await Promise.allSettled([...this.#launches]);
    this.#closed = true;
    await Promise.allSettled([...this.#services.values()].map((s) => s.proxy.close()));
  }
}

function essentialContainer(definition: TaskDefinition): ContainerDefinition {
  return (
    definition.containerDefinitions.find((c) => c.essential !== false) ?? definition.containerDefinitions[0]!
  );
}

/** The container a service runs and routes to: the load balancer's, else the first essential one. */
function serviceContainer(definition: TaskDefinition, loadBalancers: unknown): ContainerDefinition {
  const name = Array.isArray(loadBalancers)
    ? (loadBalancers[0] as { containerName?: string } | undefined)?.containerName
    : undefined;
  return definition.containerDefinitions.find((c) => c.name === name) ?? essentialContainer(definition);
}

function randomUUIDFor(taskId: string, name: string): string {
  const hex = Buffer.from(`${taskId}${name}`).toString('hex').padEnd(32, '0').slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function page<K extends string>(
  items: string[],
  maxResults: number | undefined,
  nextToken: string | undefined,
  key: K,
) {
  const start = nextToken
    ? Number.parseInt(Buffer.from(nextToken, 'base64url').toString('utf8'), 10) || 0
    : 0;
  const size = maxResults ?? 100;
  const slice = items.slice(start, start + size);
  const next =
    start + size < items.length ? Buffer.from(String(start + size)).toString('base64url') : undefined;
  return { [key]: slice, ...(next ? { nextToken: next } : {}) } as Record<K, string[]> & {
    nextToken?: string;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One HTTP GET as a load balancer's health check: 2xx is healthy. */
async function httpProbe(
  port: number,
  path: string,
  timeoutMs: number,
): Promise<{ ok: boolean; answered: boolean; reason: string }> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { 'user-agent': 'ELB-HealthChecker/2.0' },
    });
    await response.body?.cancel();
    return {
      ok: response.status >= 200 && response.status < 300,
      answered: true,
      reason: `Health checks failed with these codes: [${response.status}]`,
    };
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    return { ok: false, answered: timedOut, reason: timedOut ? 'Request timed out' : 'Health checks failed' };
  }
}
