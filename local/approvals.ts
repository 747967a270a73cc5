import type { LocalRoute } from '#local/webhook-server.ts';

export { approvalKeyFile, localApprovalSigningKey } from '#shared/approval/local-signing-key.ts';

/**
 * The HTTP API's two approval routes, both to the approval API function (`handle`); the local
 * runtime passes its bundle in a worker (`localLambdas().approvalApi`).
 */
export function approvalApiRoutes(handle: LocalRoute['handle']): LocalRoute[] {
  return [
    { method: 'GET', pattern: '/approvals/{id}', functionName: 'stepline-approval-api', handle },
    { method: 'POST', pattern: '/approvals/{id}', functionName: 'stepline-approval-api', handle },
  ];
}
