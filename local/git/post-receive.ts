import { localWebhookSecret } from '#local/secret.ts';
import { git } from './git.ts';
import { buildGitHubPushPayload, deliverGitHubPush } from './push-payload.ts';

/**
 * The `post-receive` hook of a local remote: for each `<old> <new> <ref>` line on stdin, send a
 * signed push webhook and say what the pipeline answered (git shows it as `remote: …`).
 */
export async function postReceive(
  gitDir: string,
  stdin: string,
  write: (line: string) => void,
): Promise<number> {
  const webhookUrl = await git(gitDir, ['config', 'stepline.webhookUrl']);
  const fullName = await git(gitDir, ['config', 'stepline.fullName']);
  const secret = localWebhookSecret(await git(gitDir, ['config', 'stepline.dataDir']));
  let failures = 0;
  for (const line of stdin.split('\n').filter(Boolean)) {
    const [before = '', after = '', ref = ''] = line.trim().split(/\s+/);
    const payload = await buildGitHubPushPayload({ repoDir: gitDir, fullName, ref, before, after });
    try {
      const delivery = await deliverGitHubPush(webhookUrl, secret, payload);
      const body = delivery.body as { executionName?: string; ignored?: string; message?: string };
      if (delivery.status === 202) write(`stepline: ${ref} → execution ${body.executionName}`);
      else if (body.ignored) write(`stepline: ${ref} ignored: ${body.ignored}`);
      else {
        failures++;
        write(`stepline: ${ref} rejected with ${delivery.status}: ${body.message ?? JSON.stringify(body)}`);
      }
    } catch (error) {
      failures++;
      write(
        `stepline: could not reach ${webhookUrl} (${(error as Error).message}); is \`stepline serve\` running?`,
      );
    }
  }
  return failures === 0 ? 0 : 1;
}
