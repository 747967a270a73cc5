import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { consoleTokenFile } from '#local/console/token.ts';
import { isProcessAlive } from '#local/process.ts';

/** What `runtime.json` says about the runtime serving a data directory (fields other processes use). */
export const RuntimeInfo = z.looseObject({
  pid: z.number().int(),
  webhookUrl: z.string(),
  sfnEndpoint: z.string(),
  stateMachineArn: z.string().optional(),
  registryEndpoint: z.string().optional(),
  ecsEndpoint: z.string().optional(),
  sesEndpoint: z.string().optional(),
  outboxDir: z.string().optional(),
  /** The web console's URL (without its token), when the runtime serves one. */
  consoleUrl: z.string().optional(),
});
export type RuntimeInfo = z.infer<typeof RuntimeInfo>;

/**
 * The runtime another process (`stepline serve`) runs on this data directory, if one is up: its
 * `runtime.json` names a live process whose Step Functions endpoint answers. Else undefined.
 */
export async function findRunningRuntime(dataDir: string): Promise<RuntimeInfo | undefined> {
  let info: RuntimeInfo;
  try {
    info = RuntimeInfo.parse(JSON.parse(await readFile(join(resolve(dataDir), 'runtime.json'), 'utf8')));
  } catch {
    return undefined;
  }
  if (info.pid === process.pid || !isProcessAlive(info.pid)) return undefined;
  try {
    await fetch(info.sfnEndpoint, { method: 'POST', signal: AbortSignal.timeout(2000) });
    return info;
  } catch {
    return undefined;
  }
}

/**
 * The URL that opens a running runtime's console, as `stepline serve` prints it: `consoleUrl` with
 * the token (`STEPLINE_CONSOLE_TOKEN`, else `<data>/console-token`) — this user on this machine
 * may read it anyway. Without a token to hand (the file is missing: serve took it from its own
 * environment), the URL alone; undefined when the runtime serves no console. Never creates a token.
 */
export function runningConsoleOpenUrl(
  info: Pick<RuntimeInfo, 'consoleUrl'>,
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (!info.consoleUrl) return undefined;
  const base = info.consoleUrl.replace(/\/+$/, '');
  const file = consoleTokenFile(dataDir);
  const token = env.STEPLINE_CONSOLE_TOKEN || (existsSync(file) ? readFileSync(file, 'utf8').trim() : '');
  return token ? `${base}/?token=${encodeURIComponent(token)}` : `${base}/`;
}
