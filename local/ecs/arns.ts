/**
 * ARNs of the local ECS: the shapes ECS uses, in account 000000000000 of the region the local
 * clients use. Incoming ARNs may name any region and account (the rendered state machine says
 * `local`): only the resource part is read.
 */
export const ecsAccount = '000000000000';
export const ecsRegion = 'us-east-1';
const prefix = `arn:aws:ecs:${ecsRegion}:${ecsAccount}`;

export const clusterArn = (cluster: string) => `${prefix}:cluster/${cluster}`;
export const serviceArn = (cluster: string, service: string) => `${prefix}:service/${cluster}/${service}`;
export const taskDefinitionArn = (family: string, revision: number) =>
  `${prefix}:task-definition/${family}:${revision}`;
export const taskArn = (cluster: string, id: string) => `${prefix}:task/${cluster}/${id}`;

const arnPattern = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:([a-z-]+)\/(.+)$/;

/** The resource type and path of an ECS ARN (`service`, `staging/web`), or undefined for a plain name. */
export function parseArn(value: string): { type: string; path: string } | undefined {
  const match = arnPattern.exec(value);
  return match ? { type: match[1]!, path: match[2]! } : undefined;
}

/** `cluster` as a name: `stepline-local` from a name or an ARN; ECS's `default` when absent. */
export function clusterName(value: string | undefined): string {
  if (!value) return 'default';
  const arn = parseArn(value);
  return arn?.type === 'cluster' ? arn.path : value;
}

/** A service named by name or ARN (`…:service/<cluster>/<name>` or the older `…:service/<name>`). */
export function serviceName(value: string): string {
  const arn = parseArn(value);
  return arn?.type === 'service' ? arn.path.split('/').at(-1)! : value;
}

/** A task named by id or ARN. */
export function taskId(value: string): string {
  const arn = parseArn(value);
  return arn?.type === 'task' ? arn.path.split('/').at(-1)! : value;
}

/** `family` or `family:revision`, from an ARN or as given. */
export function taskDefinitionRef(value: string): { family: string; revision?: number } {
  const arn = parseArn(value);
  const ref = arn?.type === 'task-definition' ? arn.path : value;
  const match = /^([A-Za-z0-9_-]+)(?::(\d+))?$/.exec(ref);
  if (!match) return { family: ref };
  return match[2] === undefined ? { family: match[1]! } : { family: match[1]!, revision: Number(match[2]) };
}
