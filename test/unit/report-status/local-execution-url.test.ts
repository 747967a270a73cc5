import { describe, expect, it } from 'vitest';
import { localExecutionUrl } from '#functions/report-status/report-status.ts';
import { localExecutionLink } from '#functions/request-approval/request-approval.ts';

describe('where the local runtime links an execution', () => {
  it("points a status at the local console's execution page when the runtime serves a console", () => {
    expect(localExecutionUrl('github-delivery-1', 'http://127.0.0.1:8081')).toBe(
      'http://127.0.0.1:8081/executions/github-delivery-1',
    );
  });

  it('keeps the `stepline executions show` command when no console runs', () => {
    expect(localExecutionUrl('github-delivery-1')).toBe('stepline executions show github-delivery-1');
  });

  it("never carries the console's token, even when the URL it was given has one", () => {
    const url = localExecutionUrl('github-delivery-1', 'http://127.0.0.1:8081/?token=s3cret#x');

    expect(url).toBe('http://127.0.0.1:8081/executions/github-delivery-1');
    expect(url).not.toContain('s3cret');
  });

  it("links the approval email to the console's execution page, else to the command with the data directory", () => {
    const run = { name: 'gitlab-7/a' };

    expect(localExecutionLink(run, { dataDir: '/d', consoleUrl: 'http://127.0.0.1:8090/' })).toEqual({
      url: 'http://127.0.0.1:8090/executions/gitlab-7%2Fa',
    });
    expect(localExecutionLink(run, { dataDir: '/d' })).toEqual({
      command: 'npx stepline executions show gitlab-7/a --data /d',
    });
  });
});
