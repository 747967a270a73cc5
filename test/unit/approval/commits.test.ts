import { afterEach, describe, expect, it } from 'vitest';
import { gitCommitLister, providerCommitLister, pushCommits } from '#functions/request-approval/commits.ts';
import { DeploymentConfig } from '#shared/deployment-config.ts';
import type { PushEvent } from '#shared/push-event.ts';
import { createGitRepo, type GitRepo } from '../../helpers/git-repo.ts';
import { type LoopbackServer, startLoopbackServer } from '../fetch-source/loopback-server.ts';
import { push } from './fixtures.ts';

const base = 'b'.repeat(40);
const tip = 'c'.repeat(40);
let server: LoopbackServer | undefined;
let repo: GitRepo | undefined;

afterEach(async () => {
  await server?.close();
  await repo?.remove();
  server = undefined;
  repo = undefined;
});

function configFor(provider: string, name: string, apiUrl: string) {
  return DeploymentConfig.parse({
    repositories: [
      { provider, name, webhookSecret: { value: 's' }, providerToken: { value: 'tok' }, apiUrl },
    ],
  });
}

const hubBody = JSON.stringify({
  total_commits: 2,
  commits: [
    {
      sha: 'a1'.repeat(20),
      html_url: 'https://h/1',
      commit: { message: 'Older\n\nbody', author: { name: 'Ann', email: 'ann@x' } },
    },
    {
      sha: 'a2'.repeat(20),
      html_url: 'https://h/2',
      commit: { message: 'Newer', author: { name: 'Ben', email: null } },
    },
  ],
});

describe('providerCommitLister', () => {
  it('asks the GitHub compare API with the token and lists newest first', async () => {
    server = await startLoopbackServer(() => ({ status: 200, body: hubBody }));
    const lister = providerCommitLister({
      config: configFor('github', 'acme/api', server.url),
      resolveSecret: async (ref) => ('value' in ref ? ref.value : ''),
    });

    const range = await lister.list({ push, base, head: tip });

    expect(server.requests[0]).toMatchObject({ url: `/repos/acme/api/compare/${base}...${tip}` });
    expect(server.requests[0]!.headers.authorization).toBe('Bearer tok');
    expect(range).toEqual({
      commits: [
        { id: 'a2'.repeat(20), message: 'Newer', author: { name: 'Ben' }, url: 'https://h/2' },
        {
          id: 'a1'.repeat(20),
          message: 'Older',
          author: { name: 'Ann', email: 'ann@x' },
          url: 'https://h/1',
        },
      ],
      total: 2,
      source: 'GitHub compare',
    });
  });

  it('asks Gitea under /api/v1 with its token scheme', async () => {
    server = await startLoopbackServer(() => ({ status: 200, body: hubBody }));
    const giteaPush: PushEvent = { ...push, provider: 'gitea' };
    const lister = providerCommitLister({
      config: configFor('gitea', 'acme/api', server.url),
      resolveSecret: async () => 'tok',
    });

    const range = await lister.list({ push: giteaPush, base, head: tip });

    expect(server.requests[0]!.url).toBe(`/api/v1/repos/acme/api/compare/${base}...${tip}`);
    expect(server.requests[0]!.headers.authorization).toBe('token tok');
    expect(range.source).toBe('Gitea compare');
  });

  it('asks GitLab by project path with from and to', async () => {
    server = await startLoopbackServer(() => ({
      status: 200,
      body: JSON.stringify({
        commits: [
          {
            id: 'a3'.repeat(20),
            message: 'Only',
            author_name: 'Cy',
            author_email: 'cy@x',
            web_url: 'https://g/3',
          },
        ],
      }),
    }));
    const gitlabPush: PushEvent = {
      ...push,
      provider: 'gitlab',
      repository: { ...push.repository, fullName: 'acme/group/api' },
    };
    const lister = providerCommitLister({
      config: configFor('gitlab', 'acme/group/api', server.url),
      resolveSecret: async () => 'tok',
    });

    const range = await lister.list({ push: gitlabPush, base, head: tip });

    expect(server.requests[0]!.url).toBe(
      `/api/v4/projects/acme%2Fgroup%2Fapi/repository/compare?from=${base}&to=${tip}`,
    );
    expect(range.commits).toEqual([
      { id: 'a3'.repeat(20), message: 'Only', author: { name: 'Cy', email: 'cy@x' }, url: 'https://g/3' },
    ]);
  });

  it('throws the provider answer so the caller can fall back to the push', async () => {
    server = await startLoopbackServer(() => ({ status: 404, body: '{"message":"Not Found"}' }));
    const lister = providerCommitLister({
      config: configFor('github', 'acme/api', server.url),
      resolveSecret: async () => 'tok',
    });

    await expect(lister.list({ push, base, head: tip })).rejects.toThrow(/answered 404/);
  });

  it("uses the push's own commits when production has never been deployed", async () => {
    const lister = providerCommitLister({
      config: configFor('github', 'acme/api', 'http://127.0.0.1:9'),
      resolveSecret: async () => 'tok',
    });

    expect(await lister.list({ push, base: undefined, head: tip })).toEqual(pushCommits(push));
  });
});

describe('gitCommitLister', () => {
  it('lists the commits between production and the push with git log, newest first', async () => {
    repo = await createGitRepo();
    const first = await repo.commit({ 'a.txt': '1' }, 'First');
    await repo.commit({ 'a.txt': '2' }, 'Second');
    const third = await repo.commit({ 'a.txt': '3' }, 'Third\n\nwith a body');
    const local: PushEvent = { ...push, repository: { ...push.repository, cloneUrl: repo.dir } };

    const range = await gitCommitLister().list({ push: local, base: first, head: third });

    expect(range.total).toBe(2);
    expect(range.commits.map((c) => c.message)).toEqual(['Third', 'Second']);
    expect(range.commits[0]).toMatchObject({
      id: third,
      author: { name: 'Stepline Test', email: 'test@stepline.invalid' },
    });
    expect(range.source).toBe('git log');
  });

  it('lists the latest commits when production has never been deployed', async () => {
    repo = await createGitRepo();
    await repo.commit({ 'a.txt': '1' }, 'First');
    const second = await repo.commit({ 'a.txt': '2' }, 'Second');
    const local: PushEvent = { ...push, repository: { ...push.repository, cloneUrl: `file://${repo.dir}` } };

    const range = await gitCommitLister().list({ push: local, base: undefined, head: second });

    expect(range.commits.map((c) => c.message)).toEqual(['Second', 'First']);
  });

  it('throws when production runs a commit the repository does not have', async () => {
    repo = await createGitRepo();
    const only = await repo.commit({ 'a.txt': '1' }, 'Only');
    const local: PushEvent = { ...push, repository: { ...push.repository, cloneUrl: repo.dir } };

    await expect(gitCommitLister().list({ push: local, base: 'd'.repeat(40), head: only })).rejects.toThrow(
      /git cat-file failed/,
    );
  });
});
