import type { Provider, PushEvent } from '#shared/push-event.ts';

/** A valid push of `after` to `fullName`; override any field. */
export function makePush(
  overrides: { provider?: Provider; fullName?: string; cloneUrl?: string; after?: string } = {},
): PushEvent {
  const after = overrides.after ?? 'a'.repeat(40);
  const commit = {
    id: after,
    message: 'Ship it',
    author: { name: 'Ada', email: 'ada@example.com' },
    timestamp: '2024-01-01T00:00:00Z',
    url: `https://example.com/commit/${after}`,
    added: [],
    modified: ['src/index.ts'],
    removed: [],
  };
  return {
    provider: overrides.provider ?? 'github',
    deliveryId: 'delivery-1',
    repository: {
      fullName: overrides.fullName ?? 'acme/service',
      cloneUrl: overrides.cloneUrl ?? 'https://github.com/acme/service.git',
      defaultBranch: 'main',
    },
    ref: 'refs/heads/main',
    refType: 'branch',
    refName: 'main',
    before: '0'.repeat(40),
    after,
    headCommit: commit,
    commits: [commit],
    pusher: { name: 'ada' },
  };
}

export const run = {
  name: 'github-delivery-1',
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-delivery-1',
  startedAt: '2024-01-01T00:00:00.000Z',
};
