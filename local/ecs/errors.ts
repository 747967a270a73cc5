/**
 * Errors of the local ECS API. Each `name` is the error code ECS returns (the JSON protocol's
 * `__type`), so the api-server replies with it and `@aws-sdk/client-ecs` raises the same typed
 * exception (`ServiceNotFoundException`, …) as against AWS.
 */
export class EcsApiError extends Error {
  override name: string = 'EcsApiError';
}

export class ClientException extends EcsApiError {
  override name = 'ClientException' as const;
}
export class InvalidParameterException extends EcsApiError {
  override name = 'InvalidParameterException' as const;
}
export class ClusterNotFoundException extends EcsApiError {
  override name = 'ClusterNotFoundException' as const;
}
export class ServiceNotFoundException extends EcsApiError {
  override name = 'ServiceNotFoundException' as const;
}
export class ServiceNotActiveException extends EcsApiError {
  override name = 'ServiceNotActiveException' as const;
}
export class ResourceNotFoundException extends EcsApiError {
  override name = 'ResourceNotFoundException' as const;
}
export class UnsupportedFeatureException extends EcsApiError {
  override name = 'UnsupportedFeatureException' as const;
}
