import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EcsApiError, InvalidParameterException } from './errors.ts';
import type { LocalEcs } from './local-ecs.ts';

/**
 * A loopback endpoint speaking the ECS JSON protocol (AWS JSON 1.1, `X-Amz-Target:
 * AmazonEC2ContainerServiceV20141113.<Operation>`) for the operations Stepline's code and its
 * users make, so the real `@aws-sdk/client-ecs` works unchanged with `AWS_ENDPOINT_URL_ECS`.
 * Signatures are not checked: any credentials work.
 */
export interface EcsApiServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

const targetPrefix = 'AmazonEC2ContainerServiceV20141113.';
const maxBodyBytes = 4 * 1024 * 1024;

type Operation = (ecs: LocalEcs, body: unknown) => unknown;

const operations: Record<string, Operation> = {
  RegisterTaskDefinition: (ecs, body) => ecs.registerTaskDefinition(body),
  DescribeTaskDefinition: (ecs, body) => ecs.describeTaskDefinition(body),
  DeregisterTaskDefinition: (ecs, body) => ecs.deregisterTaskDefinition(body),
  ListTaskDefinitions: (ecs, body) => ecs.listTaskDefinitions(body),
  CreateCluster: (ecs, body) => ecs.createCluster(body),
  DescribeClusters: (ecs, body) => ecs.describeClusters(body),
  ListClusters: (ecs, body) => ecs.listClusters(body),
  CreateService: (ecs, body) => ecs.createService(body),
  UpdateService: (ecs, body) => ecs.updateService(body),
  DeleteService: (ecs, body) => ecs.deleteService(body),
  DescribeServices: (ecs, body) => ecs.describeServices(body),
  ListServices: (ecs, body) => ecs.listServices(body),
  ListTasks: (ecs, body) => ecs.listTasks(body),
  DescribeTasks: (ecs, body) => ecs.describeTasks(body),
  RunTask: (ecs, body) => ecs.runTask(body),
  StopTask: (ecs, body) => ecs.stopTask(body),
  TagResource: (ecs, body) => ecs.tagResource(body),
  UntagResource: (ecs, body) => ecs.untagResource(body),
  ListTagsForResource: (ecs, body) => ecs.listTagsForResource(body),
};

/** The operations this endpoint answers. */
export const supportedOperations = Object.keys(operations);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new InvalidParameterException(`request body is larger than ${maxBodyBytes} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': crypto.randomUUID(),
  });
  res.end(text);
}

async function handle(ecs: LocalEcs, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const target = req.headers['x-amz-target'];
    if (req.method !== 'POST' || typeof target !== 'string' || !target.startsWith(targetPrefix)) {
      reply(res, 400, {
        __type: 'UnknownOperationException',
        message: `expected POST / with header X-Amz-Target: ${targetPrefix}<Operation>`,
      });
      return;
    }
    const name = target.slice(targetPrefix.length);
    const operation = operations[name];
    if (!operation) {
      reply(res, 400, {
        __type: 'UnknownOperationException',
        message: `operation ${name} is not supported by the local ECS (it answers ${supportedOperations.join(', ')})`,
      });
      return;
    }
    const text = await readBody(req);
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      reply(res, 400, { __type: 'SerializationException', message: 'request body is not valid JSON' });
      return;
    }
    reply(res, 200, await operation(ecs, body));
  } catch (error) {
    if (error instanceof EcsApiError) {
      reply(res, 400, { __type: error.name, message: error.message });
      return;
    }
    reply(res, 500, {
      __type: 'ServerException',
      message: error instanceof Error ? error.message : String(error),
    });
  }
}

/** Serves `ecs` over the ECS JSON protocol on a loopback port (0 picks a free one). */
export async function startEcsApiServer(
  ecs: LocalEcs,
  options: { port?: number; host?: string } = {},
): Promise<EcsApiServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    void handle(ecs, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
