import { startAwsJsonServer } from '#local/http/aws-json.ts';
import type { AccessKey } from '#local/http/sigv4.ts';
import { EcsApiError } from './errors.ts';
import type { LocalEcs } from './local-ecs.ts';

/**
 * A loopback endpoint speaking the ECS JSON protocol (AWS JSON 1.1, `X-Amz-Target:
 * AmazonEC2ContainerServiceV20141113.<Operation>`) for the operations Stepline's code and its
 * users make, so the real `@aws-sdk/client-ecs` works unchanged with `AWS_ENDPOINT_URL_ECS`.
 * Only requests signed (SigV4) with the data directory's credentials are answered.
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

/** Serves `ecs` over the ECS JSON protocol on a loopback port (0 picks a free one). */
export function startEcsApiServer(
  ecs: LocalEcs,
  options: { credentials: AccessKey; port?: number; host?: string },
): Promise<EcsApiServer> {
  return startAwsJsonServer(
    {
      name: 'the local ECS',
      targetPrefix,
      jsonVersion: '1.1',
      maxBodyBytes,
      dispatch: (name, body) => {
        const operation = operations[name];
        if (!operation)
          throw Object.assign(
            new EcsApiError(
              `operation ${name} is not supported by the local ECS (it answers ${supportedOperations.join(', ')})`,
            ),
            { name: 'UnknownOperationException' },
          );
        return operation(ecs, body);
      },
      isClientError: (error): error is Error => error instanceof EcsApiError,
      serverErrorType: 'ServerException',
      credentials: options.credentials,
    },
    options,
  );
}
