/** Error codes of the OCI distribution spec, with the HTTP status each is answered with. */
const statusOf = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
} as const;

export type DistributionErrorCode = keyof typeof statusOf;

/**
 * An error the registry answers with an OCI error body `{errors: [{code, message, detail}]}`.
 * `status` defaults to the one registries conventionally use for the code.
 */
export class DistributionError extends Error {
  override name = 'DistributionError';
  readonly status: number;

  constructor(
    readonly code: DistributionErrorCode,
    message: string,
    readonly detail?: unknown,
    status?: number,
  ) {
    super(message);
    this.status = status ?? statusOf[code];
  }
}

/** The ECR JSON protocol's errors: `__type` is the name, always answered with 400. */
export class EcrApiError extends Error {
  override name: string;

  constructor(
    type:
      | 'RepositoryNotFoundException'
      | 'ImageNotFoundException'
      | 'InvalidParameterException'
      | 'UnknownOperationException'
      | 'SerializationException',
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}
