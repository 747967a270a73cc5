import { describe, expect, it } from 'vitest';
import {
  type CommitStatus,
  consoleExecutionUrl,
  describeStatus,
  type RunInfo,
  reportStatus,
} from '#functions/report-status/report-status.ts';
import { TaskInputError } from '#shared/errors.ts';
import { makePush, run } from '../fetch-source/fixtures.ts';

function recorder() {
  const published: { status: CommitStatus; run: RunInfo }[] = [];
  return {
    published,
    deps: {
      publish: async (status: CommitStatus, r: RunInfo) => {
        published.push({ status, run: r });
      },
      executionUrl: (r: RunInfo) => `https://console.example/${r.name}`,
    },
  };
}

describe('reportStatus', () => {
  it('publishes a pending status for the pushed commit, linked to the execution', async () => {
    const { published, deps } = recorder();
    const push = makePush({ after: 'e'.repeat(40) });

    const result = await reportStatus({ status: 'pending', push, run }, deps);

    expect(published).toEqual([
      {
        status: {
          provider: 'github',
          repository: 'acme/service',
          sha: 'e'.repeat(40),
          state: 'pending',
          context: 'stepline',
          description: 'Stepline is building, testing and deploying this commit',
          targetUrl: `https://console.example/${run.name}`,
        },
        run,
      },
    ]);
    expect(result).toEqual({
      state: 'pending',
      description: 'Stepline is building, testing and deploying this commit',
      targetUrl: `https://console.example/${run.name}`,
    });
  });

  it("describes a failure by the error name and the first line of a Lambda error's message", async () => {
    const { deps } = recorder();
    const cause = JSON.stringify({
      errorType: 'PipelineConfigError',
      errorMessage: 'stepline.yml has 2 problems:\nbuild.commands[0]: expected string, received number',
      trace: ['at x'],
    });

    const result = await reportStatus(
      { status: 'failure', push: makePush(), run, failure: { Error: 'PipelineConfigError', Cause: cause } },
      deps,
    );

    expect(result.description).toBe('PipelineConfigError: stepline.yml has 2 problems:');
  });

  it('reads the push, run and failure from the whole state when the final reports pass only it', async () => {
    const { published, deps } = recorder();
    const push = makePush({ after: 'f'.repeat(40) });
    const state = {
      push,
      run,
      source: { sourceKey: 'k', configKey: 'c' },
      failure: { Error: 'BuildFailedError', Cause: 'npm run build exited 2' },
    };

    const result = await reportStatus({ status: 'failure', state }, deps);

    expect(published[0]?.status).toMatchObject({ sha: 'f'.repeat(40), state: 'failure' });
    expect(result.description).toBe('BuildFailedError: npm run build exited 2');
  });

  it('describes a failure whose cause is plain text by its first non-empty line', () => {
    expect(describeStatus('failure', { Error: 'TestsFailedError', Cause: '\n3 tests failed\nsee log' })).toBe(
      'TestsFailedError: 3 tests failed',
    );
  });

  it('keeps a failure description within 140 characters', () => {
    const description = describeStatus('failure', { Error: 'BuildFailedError', Cause: 'x'.repeat(500) });

    expect([...description]).toHaveLength(140);
    expect(description.endsWith('…')).toBe(true);
  });

  it('names the image digest and the approver once production is deployed', () => {
    const digest = `sha256:${'c'.repeat(64)}`;
    const state = {
      publish: {
        image: { repository: 'r', digest, uri: `r@${digest}`, tags: [], bytesPushed: 0, layers: 1 },
      },
      approval: { decision: 'approve', approver: 'ops@example.com' },
    };

    expect(describeStatus('success', undefined, state)).toBe(
      `Deployed to production, approved by ops@example.com (image sha256:${'c'.repeat(12)})`,
    );
  });

  it('keeps the image digest whole when a long failure is cut to 140 characters', () => {
    const digest = `sha256:${'d'.repeat(64)}`;
    const state = {
      publish: {
        image: { repository: 'r', digest, uri: `r@${digest}`, tags: [], bytesPushed: 0, layers: 1 },
      },
    };

    const text = describeStatus('failure', { Error: 'DeploymentFailedError', Cause: 'x'.repeat(300) }, state);

    expect([...text]).toHaveLength(140);
    expect(text.endsWith(`(image sha256:${'d'.repeat(12)})`)).toBe(true);
  });

  it('names the newer push and its execution when a newer push of the branch superseded this one', () => {
    const text = describeStatus('superseded', undefined, {
      lane: {
        superseded: true,
        supersededBy: { execution: 'github-delivery-2', executionArn: 'arn:x', commit: 'b'.repeat(40) },
      },
    });

    expect(text).toBe(
      'Superseded by a newer push of this branch: commit bbbbbbbbbbbb, execution github-delivery-2',
    );
  });

  it('says which environment already runs a newer commit when a push is superseded', () => {
    const text = describeStatus('superseded', undefined, {
      staging: { outcome: 'Superseded', supersededBy: 'f'.repeat(40) },
    });

    expect(text).toBe(`Superseded: staging already runs newer commit ${'f'.repeat(12)}`);
  });

  it('rejects an unknown status as a TaskInputError', async () => {
    const { deps } = recorder();

    const error = await reportStatus({ status: 'done', push: makePush(), run }, deps).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(TaskInputError);
    expect((error as Error).message).toContain('status');
  });
});

describe('consoleExecutionUrl', () => {
  it("links to the execution in the region's Step Functions console", () => {
    expect(consoleExecutionUrl('eu-west-1', run.executionArn)).toBe(
      `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${run.executionArn}`,
    );
  });
});
