import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusReportError } from '#shared/errors.ts';
import {
  apiBase,
  authHeaders,
  describeResponse,
  type Fetch,
  gitlabProjectId,
  ownerAndName,
} from '#shared/provider-api.ts';
import type { Provider } from '#shared/push-event.ts';
import type { CommitState, CommitStatus, StatusPublisher } from './report-status.ts';

export interface ProviderStatusPublisherOptions {
  provider: Provider;
  token: string;
  /** Server base URL for self-hosted GitLab/Gitea/Forgejo or GitHub Enterprise (`https://host/api/v3`). */
  apiUrl?: string | undefined;
  fetch?: Fetch;
}

const bitbucketStates: Record<CommitState, string> = {
  pending: 'INPROGRESS',
  success: 'SUCCESSFUL',
  failure: 'FAILED',
  superseded: 'STOPPED',
};
/** GitHub has no neutral commit state: a superseded push is not a failure, and its description says why. */
const githubStates: Record<CommitState, string> = {
  pending: 'pending',
  success: 'success',
  failure: 'failure',
  superseded: 'success',
};
const giteaStates: Record<CommitState, string> = { ...githubStates, superseded: 'warning' };
const gitlabStates: Record<CommitState, string> = {
  pending: 'pending',
  success: 'success',
  failure: 'failed',
  superseded: 'canceled',
};

/** The provider's "create a commit status" request for `status`: URL and JSON body. */
export function statusRequest(
  status: CommitStatus,
  apiUrl?: string | undefined,
): { url: string; body: Record<string, string> } {
  const sha = encodeURIComponent(status.sha);
  const base = apiBase(status.provider, apiUrl);
  switch (status.provider) {
    case 'github':
    case 'gitea': {
      const { owner, name } = ownerAndName(status.repository);
      const prefix = status.provider === 'gitea' ? '/api/v1' : '';
      return {
        url: `${base}${prefix}/repos/${owner}/${name}/statuses/${sha}`,
        body: {
          state: (status.provider === 'gitea' ? giteaStates : githubStates)[status.state],
          target_url: status.targetUrl,
          description: status.description,
          context: status.context,
        },
      };
    }
    case 'gitlab':
      return {
        url: `${base}/api/v4/projects/${gitlabProjectId(status.repository)}/statuses/${sha}`,
        body: {
          state: gitlabStates[status.state],
          name: status.context,
          target_url: status.targetUrl,
          description: status.description,
        },
      };
    case 'bitbucket': {
      const { owner, name } = ownerAndName(status.repository);
      return {
        url: `${base}/2.0/repositories/${owner}/${name}/commit/${sha}/statuses/build`,
        body: {
          key: status.context,
          state: bitbucketStates[status.state],
          name: 'Stepline',
          url: status.targetUrl,
          description: status.description,
        },
      };
    }
  }
}

/** Publishes commit statuses through the provider's API with `token`. */
export function providerStatusPublisher(options: ProviderStatusPublisherOptions): StatusPublisher {
  const doFetch = options.fetch ?? globalThis.fetch;
  return async (status) => {
    if (status.provider !== options.provider) {
      throw new StatusReportError(`a ${options.provider} publisher cannot report to ${status.provider}`);
    }
    let request: { url: string; body: Record<string, string> };
    try {
      request = statusRequest(status, options.apiUrl);
    } catch (error) {
      throw new StatusReportError((error as Error).message, { cause: error });
    }
    let response: Response;
    try {
      response = await doFetch(request.url, {
        method: 'POST',
        headers: { ...authHeaders(options.provider, options.token), 'content-type': 'application/json' },
        body: JSON.stringify(request.body),
      });
    } catch (error) {
      throw new StatusReportError(`POST ${request.url} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!response.ok) throw new StatusReportError(`POST ${request.url} ${await describeResponse(response)}`);
    await response.body?.cancel();
  };
}

/**
 * The local runtime's publisher: appends each status as one JSON line to
 * `<dataDir>/statuses/<run>.jsonl`, next to the execution's other data.
 */
export function localStatusPublisher(dataDir: string, now: () => Date = () => new Date()): StatusPublisher {
  return async (status, run) => {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(run.name)) {
      throw new StatusReportError(`run name ${JSON.stringify(run.name)} cannot name a status file`);
    }
    const dir = join(dataDir, 'statuses');
    await mkdir(dir, { recursive: true });
    const line = JSON.stringify({ ...status, run: run.name, at: now().toISOString() });
    await appendFile(join(dir, `${run.name}.jsonl`), `${line}\n`, 'utf8');
  };
}
