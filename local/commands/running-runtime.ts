import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
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
