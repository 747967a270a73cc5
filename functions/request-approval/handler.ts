import { notImplemented } from '#shared/not-implemented.ts';

/** RequestApproval (approval email): filled by the deployment and approval release. */
export const handler = async (_event: unknown): Promise<never> =>
  notImplemented('RequestApproval (approval email)');
