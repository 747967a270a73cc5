import type { RequestApprovalInput } from '#functions/request-approval/request-approval.ts';
import type { ApprovalRecord } from '#shared/approval/record.ts';
import type { ApprovalSummary } from '#shared/approval/summary.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import type { PushEvent } from '#shared/push-event.ts';

export const head = 'c0ffee0000000000000000000000000000000001';
export const previous = 'c0ffee0000000000000000000000000000000000';

export const push: PushEvent = {
  provider: 'github',
  deliveryId: 'delivery-1',
  repository: {
    fullName: 'acme/api',
    cloneUrl: 'https://github.com/acme/api.git',
    defaultBranch: 'main',
    htmlUrl: 'https://github.com/acme/api',
  },
  ref: 'refs/heads/main',
  refType: 'branch',
  refName: 'main',
  before: previous,
  after: head,
  headCommit: {
    id: head,
    message: 'Fix the login redirect\n\nLonger body.',
    author: { name: 'Bob Builder', email: 'bob@example.com' },
    timestamp: '2026-11-30T05:00:00Z',
    url: `https://github.com/acme/api/commit/${head}`,
    added: [],
    modified: ['src/login.ts'],
    removed: [],
  },
  commits: [
    {
      id: head,
      message: 'Fix the login redirect',
      author: { name: 'Bob Builder', email: 'bob@example.com' },
      timestamp: '2026-11-30T05:00:00Z',
      url: `https://github.com/acme/api/commit/${head}`,
      added: [],
      modified: ['src/login.ts'],
      removed: [],
    },
  ],
  pusher: { name: 'bob', email: 'bob@example.com' },
};

export const digest = `sha256:${'ab'.repeat(32)}`;
export const image = {
  repository: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/api',
  digest,
  uri: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme/api@${digest}`,
  tags: [head, 'main'],
  bytesPushed: 2048,
  layers: 3,
};

export const staging = {
  environment: 'staging' as const,
  outcome: 'Completed' as const,
  cluster: 'apps',
  service: 'api-staging',
  container: 'app',
  commit: head,
  imageUri: image.uri,
  rolloutState: 'COMPLETED' as const,
  startedAt: '2026-11-30T05:05:00Z',
  deadline: '2026-11-30T05:20:00Z',
  url: 'https://staging.acme.example',
  checks: 2,
};

export const run = {
  name: 'github-delivery-1',
  executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-delivery-1',
  startedAt: '2026-11-30T05:00:01Z',
};

export function approvalInput(overrides: Partial<RequestApprovalInput> = {}): RequestApprovalInput {
  return {
    taskToken: 'TOKEN-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
    run,
    push,
    image,
    test: {
      tests: { total: 12, passed: 11, failed: 0, errors: 0, skipped: 1, reports: 1, failures: [] },
    },
    staging,
    timeoutSeconds: 3600,
    ...overrides,
  };
}

export function config(overrides: Record<string, unknown> = {}): DeploymentConfig {
  return DeploymentConfig.parse({
    repositories: [
      {
        provider: 'github',
        name: 'acme/api',
        webhookSecret: { value: 'whsec' },
        approvers: ['alice@example.com', 'carol@example.com'],
        deploy: {
          staging: { cluster: 'apps', service: 'api-staging', container: 'app' },
          production: { cluster: 'apps', service: 'api-production', container: 'app' },
        },
        ...overrides,
      },
    ],
    emailFrom: 'stepline@acme.example',
    notificationEmails: ['team@acme.example'],
  });
}

export const summary: ApprovalSummary = {
  provider: 'github',
  repository: 'acme/api',
  repositoryUrl: 'https://github.com/acme/api',
  refType: 'branch',
  refName: 'main',
  commit: head,
  commitUrl: `https://github.com/acme/api/commit/${head}`,
  headline: 'Fix the login redirect',
  pushedBy: { name: 'bob', email: 'bob@example.com' },
  image: { uri: image.uri, digest, repository: image.repository },
  tests: { total: 12, passed: 11, failed: 0, errors: 0, skipped: 1 },
  staging: {
    outcome: 'Completed',
    rolloutState: 'COMPLETED',
    cluster: 'apps',
    service: 'api-staging',
    url: 'https://staging.acme.example',
  },
  production: { state: 'deployed', commit: previous, service: 'api-production' },
  changes: {
    title: 'Commits since production (1)',
    commits: [{ id: head, message: 'Fix the login redirect', author: { name: 'Bob Builder' } }],
    total: 1,
  },
  execution: { name: run.name, arn: run.executionArn, url: 'https://console.aws.amazon.com/states/x' },
  expiresAt: '2026-11-30T06:00:00.000Z',
};

export const approvalId = 'AAAAAAAAAAAAAAAAAAAAAA';

export function record(overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    version: 1,
    id: approvalId,
    taskToken: 'TOKEN-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
    executionArn: run.executionArn,
    executionName: run.name,
    provider: 'github',
    repository: 'acme/api',
    approvers: ['alice@example.com', 'carol@example.com'],
    createdAt: '2026-11-30T05:00:00.000Z',
    expiresAt: summary.expiresAt,
    summary,
    status: 'pending',
    ...overrides,
  };
}
