import {
  ExecutionAlreadyExists,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_INPUT_BYTES } from '#functions/webhook/execution.ts';
import {
  MAX_BODY_BYTES,
  type RawRequest,
  receivePush,
  type WebhookDeps,
} from '#functions/webhook/receive-push.ts';
import { DeploymentConfig, type SecretRef } from '#shared/deployment-config.ts';
import { PushEvent } from '#shared/push-event.ts';
import {
  captureOutput,
  config,
  fixture,
  fixtureJson,
  STATE_MACHINE_ARN,
  secrets,
  sign,
  testLogger,
} from './helpers.ts';

const sfnMock = mockClient(SFNClient);

/** When every delivery in these tests arrives. */
const RECEIVED_AT = Date.parse('2024-03-12T19:03:58.000Z');

function deps(overrides: Partial<WebhookDeps> = {}): WebhookDeps {
  return {
    sfn: new SFNClient({ region: 'eu-west-1' }),
    stateMachineArn: STATE_MACHINE_ARN,
    config,
    resolveSecret: async (ref: SecretRef) => {
      if ('value' in ref) return ref.value;
      throw new Error('only literal secrets in these tests');
    },
    logger: testLogger(),
    now: () => RECEIVED_AT,
    ...overrides,
  };
}

function request(provider: string, body: Buffer, headers: Record<string, string | undefined>): RawRequest {
  return { provider, body, headers };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** The PushEvent the (only) StartExecution call carried. */
function startedInput(): PushEvent {
  const calls = sfnMock.commandCalls(StartExecutionCommand);
  expect(calls).toHaveLength(1);
  return PushEvent.parse(JSON.parse(calls[0]!.args[0].input.input!));
}

let output: ReturnType<typeof captureOutput>;

beforeEach(() => {
  output = captureOutput();
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: `arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:${input.name}`,
    startDate: new Date(RECEIVED_AT + 40),
  }));
});

afterEach(() => {
  output.restore();
  sfnMock.reset();
});

describe('documented push payloads', () => {
  it('starts a run for the documented GitHub push and normalizes it field by field', async () => {
    const body = fixture('github-push.json');

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply).toEqual({
      statusCode: 202,
      body: {
        executionArn:
          'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
        executionName: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
      },
    });
    const commit = {
      id: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      message: 'Initial commit',
      author: { name: 'Codertocat', email: '21031067+Codertocat@users.noreply.github.com' },
      timestamp: '2019-05-15T15:19:25Z',
      url: 'https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      added: ['README.md'],
      modified: [],
      removed: [],
    };
    expect(startedInput()).toEqual({
      provider: 'github',
      deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      repository: {
        fullName: 'Codertocat/Hello-World',
        cloneUrl: 'https://github.com/Codertocat/Hello-World.git',
        defaultBranch: 'master',
        htmlUrl: 'https://github.com/Codertocat/Hello-World',
      },
      ref: 'refs/heads/master',
      refType: 'branch',
      refName: 'master',
      before: '0000000000000000000000000000000000000000',
      after: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      headCommit: commit,
      commits: [commit],
      pusher: { name: 'Codertocat', email: '21031067+Codertocat@users.noreply.github.com' },
    });
  });

  it('names the execution after the provider and the delivery id', async () => {
    const body = fixture('github-push.json');

    await receivePush(
      request('github', body, sign.github(body, secrets.github, 'push', 'abc.DEF/123')),
      deps(),
    );

    expect(sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input).toMatchObject({
      stateMachineArn: STATE_MACHINE_ARN,
      name: expect.stringMatching(/^github-abcDEF123-[0-9a-f]{16}$/),
    });
  });

  it('starts a run for the documented GitLab push and normalizes it field by field', async () => {
    const body = fixture('gitlab-push.json');

    const reply = await receivePush(request('gitlab', body, sign.gitlab(body)), deps());

    expect(reply.statusCode).toBe(202);
    const first = {
      id: 'b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327',
      message:
        'Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information',
      author: { name: 'Jordi Mallach', email: 'jordi@softcatala.org' },
      timestamp: '2011-12-12T14:27:31+02:00',
      url: 'http://example.com/mike/diaspora/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327',
      added: ['CHANGELOG'],
      modified: ['app/controller/application.rb'],
      removed: [],
    };
    const head = {
      id: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      message: 'fixed readme',
      author: { name: 'GitLab dev user', email: 'gitlabdev@dv6700.(none)' },
      timestamp: '2012-01-03T23:36:29+02:00',
      url: 'http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      added: ['CHANGELOG'],
      modified: ['app/controller/application.rb'],
      removed: [],
    };
    expect(startedInput()).toEqual({
      provider: 'gitlab',
      deliveryId: '13792a34-cac6-4fda-95a8-c58e00a3954e',
      repository: {
        fullName: 'mike/diaspora',
        cloneUrl: 'http://example.com/mike/diaspora.git',
        defaultBranch: 'master',
        htmlUrl: 'http://example.com/mike/diaspora',
      },
      ref: 'refs/heads/master',
      refType: 'branch',
      refName: 'master',
      before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
      after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      headCommit: head,
      commits: [first, head],
      pusher: { name: 'jsmith', email: 'john@example.com' },
    });
  });

  it('starts a run for the documented GitLab tag push, knowing only the id of its head commit', async () => {
    const body = fixture('gitlab-tag-push.json');

    const reply = await receivePush(
      request('gitlab', body, sign.gitlab(body, secrets.gitlab, 'Tag Push Hook')),
      deps(),
    );

    expect(reply.statusCode).toBe(202);
    expect(startedInput()).toEqual({
      provider: 'gitlab',
      deliveryId: '13792a34-cac6-4fda-95a8-c58e00a3954e',
      repository: {
        fullName: 'jsmith/example',
        cloneUrl: 'http://example.com/jsmith/example.git',
        defaultBranch: 'master',
        htmlUrl: 'http://example.com/jsmith/example',
      },
      ref: 'refs/tags/v1.0.0',
      refType: 'tag',
      refName: 'v1.0.0',
      before: '0000000000000000000000000000000000000000',
      after: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7',
      headCommit: {
        id: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7',
        message: '',
        author: { name: 'John Smith' },
        timestamp: '',
        url: 'http://example.com/jsmith/example/-/commit/82b3d5ae55f7080f1e6022629cdb57bfae7cccc7',
        added: [],
        modified: [],
        removed: [],
      },
      commits: [],
      pusher: { name: 'John Smith' },
    });
  });

  it('builds and reports the commit of an annotated GitLab tag, keeping the tag object apart', async () => {
    const body = fixture('gitlab-annotated-tag-push.json');

    const reply = await receivePush(
      request('gitlab', body, sign.gitlab(body, secrets.gitlab, 'Tag Push Hook')),
      deps(),
    );

    expect(reply.statusCode).toBe(202);
    expect(startedInput()).toMatchObject({
      refType: 'tag',
      refName: 'v1.1.0',
      after: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7',
      tagObject: 'a5c4b1f07a0e2d3c9b8e7f6d5c4b3a2918070605',
      headCommit: { id: '82b3d5ae55f7080f1e6022629cdb57bfae7cccc7' },
    });
  });

  it('builds and reports the commit of an annotated GitHub tag, whose after is the tag object', async () => {
    const payload = fixtureJson('github-push.json');
    const commit = (payload.head_commit as { id: string }).id;
    payload.ref = 'refs/tags/v1.2.0';
    payload.before = '0000000000000000000000000000000000000000';
    payload.after = 'a5c4b1f07a0e2d3c9b8e7f6d5c4b3a2918070605';
    payload.commits = [];
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.statusCode).toBe(202);
    expect(startedInput()).toMatchObject({
      refType: 'tag',
      after: commit,
      tagObject: 'a5c4b1f07a0e2d3c9b8e7f6d5c4b3a2918070605',
      headCommit: { id: commit },
    });
  });

  it('builds the commit of an annotated Gitea tag when the payload names its head commit', async () => {
    const payload = fixtureJson('gitea-push.json');
    const commits = payload.commits as { id: string }[];
    const head = commits.at(-1)!;
    payload.ref = 'refs/tags/v2.0.0';
    payload.before = '0000000000000000000000000000000000000000';
    payload.after = 'a5c4b1f07a0e2d3c9b8e7f6d5c4b3a2918070605';
    payload.head_commit = head;
    const body = json(payload);
    const tags = DeploymentConfig.parse({
      repositories: [
        {
          provider: 'gitea',
          name: 'gitea/webhooks',
          webhookSecret: { value: secrets.gitea },
          triggers: { tags: ['v*'] },
        },
      ],
    });

    const reply = await receivePush(request('gitea', body, sign.gitea(body)), deps({ config: tags }));

    expect(reply.statusCode).toBe(202);
    expect(startedInput()).toMatchObject({
      after: head.id,
      tagObject: 'a5c4b1f07a0e2d3c9b8e7f6d5c4b3a2918070605',
    });
  });

  it('starts a run for the documented Gitea push and normalizes it field by field', async () => {
    const body = fixture('gitea-push.json');

    const reply = await receivePush(request('gitea', body, sign.gitea(body)), deps());

    expect(reply.statusCode).toBe(202);
    const commit = {
      id: 'bffeb74224043ba2feb48d137756c8a9331c449a',
      message: 'Webhooks Yay!',
      author: { name: 'Gitea', email: 'someone@gitea.io' },
      timestamp: '2017-03-13T13:52:11-04:00',
      url: 'http://localhost:3000/gitea/webhooks/commit/bffeb74224043ba2feb48d137756c8a9331c449a',
      added: [],
      modified: [],
      removed: [],
    };
    expect(startedInput()).toEqual({
      provider: 'gitea',
      deliveryId: 'f6266f16-1bf3-46a5-9ea4-602e06ead473',
      repository: {
        fullName: 'gitea/webhooks',
        cloneUrl: 'http://localhost:3000/gitea/webhooks.git',
        defaultBranch: 'master',
        htmlUrl: 'http://localhost:3000/gitea/webhooks',
      },
      ref: 'refs/heads/develop',
      refType: 'branch',
      refName: 'develop',
      before: '28e1879d029cb852e4844d9c718537df08844e03',
      after: 'bffeb74224043ba2feb48d137756c8a9331c449a',
      headCommit: commit,
      commits: [commit],
      pusher: { name: 'gitea', email: 'someone@gitea.io' },
    });
  });

  it('accepts a Forgejo delivery on the gitea route by its X-Forgejo-* headers', async () => {
    const body = fixture('gitea-push.json');

    const reply = await receivePush(request('gitea', body, sign.forgejo(body)), deps());

    expect(reply.statusCode).toBe(202);
    expect(startedInput().repository.fullName).toBe('gitea/webhooks');
  });

  it('starts a run for a Bitbucket Cloud push and normalizes it field by field, oldest commit first', async () => {
    const body = fixture('bitbucket-push.json');

    const reply = await receivePush(request('bitbucket', body, sign.bitbucket(body)), deps());

    expect(reply).toMatchObject({
      statusCode: 202,
      body: {
        executionName: expect.stringMatching(/^bitbucket-0c2a5e64-8b5f-4b43-a1c4-5d0c0e9a7f11-[0-9a-f]{16}$/),
      },
    });
    const author = { name: 'Emma', email: 'emma@example.com' };
    const first = {
      id: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
      message: 'Add health check endpoint\n',
      author,
      timestamp: '2024-03-05T10:12:44+00:00',
      url: 'https://bitbucket.org/teamawesome/ship-it/commits/a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
      added: [],
      modified: [],
      removed: [],
    };
    const head = {
      id: '9fb26ae4b0e1a4e3d3f2c1b0a9f8e7d6c5b4a392',
      message: 'Deploy on ECS with the new task role\n',
      author,
      timestamp: '2024-03-05T10:20:01+00:00',
      url: 'https://bitbucket.org/teamawesome/ship-it/commits/9fb26ae4b0e1a4e3d3f2c1b0a9f8e7d6c5b4a392',
      added: [],
      modified: [],
      removed: [],
    };
    expect(startedInput()).toEqual({
      provider: 'bitbucket',
      deliveryId: '{0c2a5e64-8b5f-4b43-a1c4-5d0c0e9a7f11}',
      repository: {
        fullName: 'teamawesome/ship-it',
        cloneUrl: 'https://bitbucket.org/teamawesome/ship-it.git',
        defaultBranch: '',
        htmlUrl: 'https://bitbucket.org/teamawesome/ship-it',
      },
      ref: 'refs/heads/main',
      refType: 'branch',
      refName: 'main',
      before: '4cd3e2c9e1b4e7f5d6c1a2b3c4d5e6f708192a3b',
      after: '9fb26ae4b0e1a4e3d3f2c1b0a9f8e7d6c5b4a392',
      headCommit: head,
      commits: [first, head],
      pusher: { name: 'emma' },
    });
  });
});

describe('signatures', () => {
  it('rejects a delivery whose signature was made with another secret', async () => {
    const body = fixture('github-push.json');

    const reply = await receivePush(request('github', body, sign.github(body, 'not-the-secret')), deps());

    expect(reply).toEqual({
      statusCode: 401,
      body: { message: 'x-hub-signature-256 does not match the body', field: 'x-hub-signature-256' },
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('rejects a delivery without a signature header', async () => {
    const body = fixture('github-push.json');
    const { 'x-hub-signature-256': _, ...headers } = sign.github(body);

    const reply = await receivePush(request('github', body, headers), deps());

    expect(reply).toEqual({
      statusCode: 401,
      body: { message: 'missing x-hub-signature-256 header', field: 'x-hub-signature-256' },
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('rejects a GitLab delivery whose token is not the configured one', async () => {
    const body = fixture('gitlab-push.json');

    const reply = await receivePush(request('gitlab', body, sign.gitlab(body, 'guessed-token')), deps());

    expect(reply.statusCode).toBe(401);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('rejects a body that was changed after it was signed', async () => {
    const body = fixture('github-push.json');
    const headers = sign.github(body);
    const tampered = Buffer.from(body.toString('utf8').replace('refs/heads/master', 'refs/heads/mastr'));

    const reply = await receivePush(request('github', tampered, headers), deps());

    expect(reply.statusCode).toBe(401);
  });

  it('answers 400 for a truncated body whose signature verifies but whose JSON does not parse', async () => {
    const body = fixture('github-push.json').subarray(0, 1000);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.statusCode).toBe(400);
    expect(reply.body).toMatchObject({ field: 'body' });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('does not let a payload signed with one repository’s secret start a run for another configured repository', async () => {
    const payload = fixtureJson('github-push.json');
    payload.repository = { ...(payload.repository as object), full_name: 'acme/other' };
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body, secrets.github)), deps());

    expect(reply.statusCode).toBe(401);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('never writes a configured secret to the logs, whatever the delivery', async () => {
    const github = fixture('github-push.json');
    const gitlab = fixture('gitlab-push.json');
    const failing: WebhookDeps['resolveSecret'] = async () => {
      throw new Error('Secrets Manager is unavailable');
    };

    await receivePush(request('github', github, sign.github(github, 'wrong')), deps());
    await receivePush(request('gitlab', gitlab, sign.gitlab(gitlab, 'wrong')), deps());
    await receivePush(request('github', github, sign.github(github)), deps({ resolveSecret: failing }));
    sfnMock.on(StartExecutionCommand).rejects(new Error('boom'));
    await receivePush(request('github', github, sign.github(github)), deps());
    await receivePush(request('gitlab', gitlab, sign.gitlab(gitlab)), deps());

    const logs = output.text();
    expect(logs).toContain('delivery with a signature that matches no configured secret');
    expect(logs).toContain('could not start the pipeline');
    for (const secret of Object.values(secrets)) expect(logs).not.toContain(secret);
  });
});

describe('deliveries that start nothing', () => {
  it('answers a GitHub ping with 200 and ignores it', async () => {
    const body = json({
      zen: 'Encourage flow.',
      hook_id: 2472869,
      hook: { type: 'Repository', events: ['push'] },
    });

    const reply = await receivePush(
      request('github', body, sign.github(body, secrets.github, 'ping')),
      deps(),
    );

    expect(reply).toEqual({ statusCode: 200, body: { ignored: 'ping' } });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('ignores events other than pushes', async () => {
    const body = json({ action: 'opened' });

    const reply = await receivePush(
      request('github', body, sign.github(body, secrets.github, 'issues')),
      deps(),
    );

    expect(reply).toEqual({ statusCode: 200, body: { ignored: 'event "issues" does not start runs' } });
  });

  it('ignores a Gitea test delivery, which pushes nothing', async () => {
    const payload = fixtureJson('gitea-push.json');
    payload.before = payload.after;
    const body = json(payload);

    const reply = await receivePush(request('gitea', body, sign.gitea(body)), deps());

    expect(reply).toEqual({ statusCode: 200, body: { ignored: 'test delivery' } });
  });

  it('ignores a GitLab test delivery, which lists the commit it starts from', async () => {
    const payload = fixtureJson('gitlab-push.json');
    payload.before = 'b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327';
    const body = json(payload);

    const reply = await receivePush(request('gitlab', body, sign.gitlab(body)), deps());

    expect(reply).toEqual({ statusCode: 200, body: { ignored: 'test delivery' } });
  });

  it('ignores a branch or tag deletion', async () => {
    const body = fixture('github-tag-deletion.json');

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply).toEqual({ statusCode: 200, body: { ignored: 'branch or tag deletion' } });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('ignores a tag the trigger rules do not name', async () => {
    const payload = fixtureJson('github-push.json');
    payload.ref = 'refs/tags/nightly-2019-05-15';
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply).toEqual({
      statusCode: 200,
      body: { ignored: 'tag "nightly-2019-05-15" does not match the tags that start runs' },
    });
  });

  it('starts a run for a tag the trigger rules name', async () => {
    const payload = fixtureJson('github-push.json');
    payload.ref = 'refs/tags/v1.2.0';
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.statusCode).toBe(202);
    expect(startedInput()).toMatchObject({ refType: 'tag', refName: 'v1.2.0' });
  });

  it('ignores a branch the trigger rules do not name', async () => {
    const payload = fixtureJson('github-push.json');
    payload.ref = 'refs/heads/feature/login';
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.body).toEqual({
      ignored: 'branch "feature/login" does not match the branches that start runs',
    });
  });

  it('ignores a push whose changed paths the path rules exclude', async () => {
    const withPaths = DeploymentConfig.parse({
      repositories: [
        {
          provider: 'gitlab',
          name: 'mike/diaspora',
          webhookSecret: { value: secrets.gitlab },
          triggers: {
            branches: ['master'],
            paths: { include: ['app/**', 'CHANGELOG'], exclude: ['CHANGELOG', 'app/controller/**'] },
          },
        },
      ],
    });
    const payload = fixtureJson('gitlab-push.json');
    payload.total_commits_count = 2;
    const body = json(payload);

    const reply = await receivePush(request('gitlab', body, sign.gitlab(body)), deps({ config: withPaths }));

    expect(reply).toEqual({ statusCode: 200, body: { ignored: 'no changed path matches the path rules' } });
  });

  it('starts a run when one changed path passes the path rules', async () => {
    const withPaths = DeploymentConfig.parse({
      repositories: [
        {
          provider: 'gitlab',
          name: 'mike/diaspora',
          webhookSecret: { value: secrets.gitlab },
          triggers: { branches: ['master'], paths: { include: ['app/**'], exclude: ['docs/**'] } },
        },
      ],
    });
    const payload = fixtureJson('gitlab-push.json');
    payload.total_commits_count = 2;
    const body = json(payload);

    const reply = await receivePush(request('gitlab', body, sign.gitlab(body)), deps({ config: withPaths }));

    expect(reply.statusCode).toBe(202);
  });

  it('does not filter by paths when the payload lists only some of the pushed commits', async () => {
    const withPaths = DeploymentConfig.parse({
      repositories: [
        {
          provider: 'gitlab',
          name: 'mike/diaspora',
          webhookSecret: { value: secrets.gitlab },
          triggers: { branches: ['master'], paths: { include: ['docs/**'] } },
        },
      ],
    });
    const body = fixture('gitlab-push.json');

    const reply = await receivePush(request('gitlab', body, sign.gitlab(body)), deps({ config: withPaths }));

    expect(reply.statusCode).toBe(202);
  });

  it('ignores a push whose head commit asks to skip CI', async () => {
    const payload = fixtureJson('github-push.json');
    payload.head_commit = { ...(payload.head_commit as object), message: 'Fix typo [skip ci]' };
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply).toEqual({ statusCode: 200, body: { ignored: 'head commit message asks to skip CI' } });
  });

  it('also honours [ci skip]', async () => {
    const payload = fixtureJson('gitea-push.json');
    (payload.commits as Array<Record<string, unknown>>)[0]!.message = 'Docs only [ci skip]';
    const body = json(payload);

    const reply = await receivePush(request('gitea', body, sign.gitea(body)), deps());

    expect(reply.body).toEqual({ ignored: 'head commit message asks to skip CI' });
  });
});

describe('refused deliveries', () => {
  it('answers 404 for an unknown provider', async () => {
    const body = fixture('github-push.json');

    const reply = await receivePush(request('gitlb', body, sign.github(body)), deps());

    expect(reply).toEqual({
      statusCode: 404,
      body: {
        message: 'unknown provider "gitlb"; expected one of github, gitlab, gitea, bitbucket',
        field: 'provider',
      },
    });
  });

  it('answers 404 for a repository that is not configured', async () => {
    const payload = fixtureJson('github-push.json');
    payload.repository = { ...(payload.repository as object), full_name: 'someone/else' };
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply).toEqual({
      statusCode: 404,
      body: {
        message: 'repository "someone/else" is not configured for provider "github"',
        field: 'repository',
      },
    });
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('answers 404 for a provider with no configured repository', async () => {
    const onlyGithub = DeploymentConfig.parse({ repositories: [config.repositories[0]] });
    const body = fixture('bitbucket-push.json');

    const reply = await receivePush(
      request('bitbucket', body, sign.bitbucket(body)),
      deps({ config: onlyGithub }),
    );

    expect(reply.statusCode).toBe(404);
  });

  it('answers 413 for a body over 4 MiB', async () => {
    const body = Buffer.alloc(MAX_BODY_BYTES + 1, 0x20);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.statusCode).toBe(413);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('answers 400 naming the header when the event header is missing', async () => {
    const body = fixture('github-push.json');
    const { 'x-github-event': _, ...headers } = sign.github(body);

    const reply = await receivePush(request('github', body, headers), deps());

    expect(reply).toEqual({
      statusCode: 400,
      body: { message: 'missing x-github-event header', field: 'x-github-event' },
    });
  });

  it('answers 400 naming the header when the delivery id is missing', async () => {
    const body = fixture('gitlab-push.json');
    const { 'x-gitlab-event-uuid': _, ...headers } = sign.gitlab(body);

    const reply = await receivePush(request('gitlab', body, headers), deps());

    expect(reply).toEqual({
      statusCode: 400,
      body: { message: 'missing x-gitlab-event-uuid header', field: 'x-gitlab-event-uuid' },
    });
  });

  it('answers 400 naming the field when the payload has the wrong shape', async () => {
    const payload = fixtureJson('github-push.json');
    payload.after = 'not-a-sha';
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply).toEqual({
      statusCode: 400,
      body: { message: 'after: expected a hex commit SHA', field: 'after' },
    });
  });

  it('answers 400 naming a nested field', async () => {
    const payload = fixtureJson('bitbucket-push.json');
    (payload.repository as Record<string, unknown>).full_name = 42;
    const body = json(payload);

    const reply = await receivePush(request('bitbucket', body, sign.bitbucket(body)), deps());

    expect(reply).toMatchObject({ statusCode: 400, body: { field: 'repository.full_name' } });
  });
});

describe('starting the execution', () => {
  it('starts one execution for a redelivery and says the second time that it had started', async () => {
    const body = fixture('github-push.json');
    const headers = sign.github(body);
    sfnMock
      .on(StartExecutionCommand)
      .resolvesOnce({
        executionArn:
          'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
        startDate: new Date(RECEIVED_AT + 40),
      })
      .rejectsOnce(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));

    const first = await receivePush(request('github', body, headers), deps());
    const second = await receivePush(request('github', body, headers), deps());

    const calls = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual(calls[0]);
    expect(first).toEqual({
      statusCode: 202,
      body: {
        executionArn:
          'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
        executionName: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
      },
    });
    expect(second).toEqual({
      statusCode: 202,
      body: { ...first.body, alreadyStarted: true },
    });
  });

  it('starts a run for each of two deliveries whose ids clean to the same text', async () => {
    const body = fixture('github-push.json');
    sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
      executionArn: `arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:${input.name}`,
      startDate: new Date(RECEIVED_AT + 40),
    }));

    const first = await receivePush(
      request('github', body, sign.github(body, undefined, 'push', '"')),
      deps(),
    );
    const second = await receivePush(
      request('github', body, sign.github(body, undefined, 'push', '..')),
      deps(),
    );

    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(names).toHaveLength(2);
    expect(names[0]).not.toBe(names[1]);
    for (const name of names) expect(name).toMatch(/^github-[0-9a-f]{16}$/);
    expect(first.body).not.toHaveProperty('alreadyStarted');
    expect(second.body).not.toHaveProperty('alreadyStarted');
  });

  it('says a redelivery had started when Step Functions answers with the running execution', async () => {
    const body = fixture('github-push.json');
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn:
        'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
      startDate: new Date(RECEIVED_AT - 45_000),
    });

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply).toEqual({
      statusCode: 202,
      body: {
        executionArn:
          'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
        executionName: 'github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
        alreadyStarted: true,
      },
    });
    expect(output.text()).toContain('redelivery of a running execution');
    expect(output.text()).not.toContain('pipeline started');
  });

  it('says a run started when its start date is that of the delivery, within clock skew', async () => {
    const body = fixture('github-push.json');
    sfnMock.on(StartExecutionCommand).resolves({
      executionArn:
        'arn:aws:states:eu-west-1:123456789012:execution:stepline-pipeline:github-72d3162e-cc78-11e3-81ab-4c9367dc0958',
      startDate: new Date(RECEIVED_AT - 800),
    });

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.statusCode).toBe(202);
    expect(reply.body).not.toHaveProperty('alreadyStarted');
    expect(output.text()).toContain('pipeline started');
    expect(output.text()).not.toContain('redelivery of a running execution');
  });

  it('answers 503 when Step Functions throttles, so the provider retries', async () => {
    const body = fixture('github-push.json');
    sfnMock.on(StartExecutionCommand).rejects(
      new SFNServiceException({
        name: 'ThrottlingException',
        $fault: 'client',
        message: 'Rate exceeded',
        $metadata: {},
      }),
    );

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.statusCode).toBe(503);
  });

  it('answers 503 when the webhook secret cannot be read', async () => {
    const body = fixture('github-push.json');

    const reply = await receivePush(
      request('github', body, sign.github(body)),
      deps({
        resolveSecret: async () => {
          throw new Error('AccessDenied');
        },
      }),
    );

    expect(reply.statusCode).toBe(503);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('keeps the newest 50 commits and the execution input under the Step Functions limit', async () => {
    const payload = fixtureJson('github-push.json');
    const head = payload.head_commit as Record<string, unknown>;
    const many = Array.from({ length: 120 }, (_, i) => ({
      ...head,
      id: i.toString(16).padStart(40, '0'),
      message: `commit ${i}\n${'x'.repeat(3000)}`,
      added: Array.from({ length: 300 }, (_, j) => `src/module-${i}/file-${j}.ts`),
    }));
    payload.commits = many;
    const body = json(payload);

    const reply = await receivePush(request('github', body, sign.github(body)), deps());

    expect(reply.statusCode).toBe(202);
    const input = sfnMock.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!;
    expect(Buffer.byteLength(input)).toBeLessThanOrEqual(MAX_INPUT_BYTES);
    const event = PushEvent.parse(JSON.parse(input));
    expect(event.commits.length).toBeLessThanOrEqual(50);
    expect(event.commits.at(-1)?.id).toBe((119).toString(16).padStart(40, '0'));
  });
});
