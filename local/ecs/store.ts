import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { formatZodError } from '#shared/format-zod-error.ts';
import { StoredService, Tag, TaskDefinition } from './model.ts';

/**
 * The local ECS's state on disk, under `<data>/ecs/`: task definitions by family and revision
 * (with their tags), clusters, and each service's desired state, deployments and events. Every
 * file is replaced atomically (temp file + rename), so a reader, or a runtime that was killed
 * mid-write, never sees half of one.
 */
export const StoredTaskDefinition = z.object({ taskDefinition: TaskDefinition, tags: z.array(Tag) });
export type StoredTaskDefinition = z.infer<typeof StoredTaskDefinition>;

export const StoredCluster = z.object({ name: z.string(), createdAt: z.number(), tags: z.array(Tag) });
export type StoredCluster = z.infer<typeof StoredCluster>;

export class EcsStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'ecs');
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  private write(path: string, value: unknown): void {
    mkdirSync(join(path, '..'), { recursive: true });
    const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(temp, path);
  }

  private read<T>(path: string, schema: z.ZodType<T>): T {
    const parsed = schema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) throw new Error(`${path}: ${formatZodError(parsed.error).join('; ')}`);
    return parsed.data;
  }

  private entries(dir: string, suffix = '.json'): string[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((name) => name.endsWith(suffix));
  }

  writeTaskDefinition(record: StoredTaskDefinition): void {
    const { family, revision } = record.taskDefinition;
    this.write(join(this.root, 'task-definitions', family, `${revision}.json`), record);
  }

  /** Every stored revision of every family. */
  readTaskDefinitions(): StoredTaskDefinition[] {
    const base = join(this.root, 'task-definitions');
    if (!existsSync(base)) return [];
    return readdirSync(base).flatMap((family) =>
      this.entries(join(base, family)).map((file) =>
        this.read(join(base, family, file), StoredTaskDefinition),
      ),
    );
  }

  writeCluster(cluster: StoredCluster): void {
    this.write(join(this.root, 'clusters', `${cluster.name}.json`), cluster);
  }

  readClusters(): StoredCluster[] {
    const dir = join(this.root, 'clusters');
    return this.entries(dir).map((file) => this.read(join(dir, file), StoredCluster));
  }

  writeService(cluster: string, service: StoredService): void {
    this.write(join(this.root, 'services', cluster, `${service.serviceName}.json`), service);
  }

  /** Services by cluster name. */
  readServices(): { cluster: string; service: StoredService }[] {
    const base = join(this.root, 'services');
    if (!existsSync(base)) return [];
    return readdirSync(base).flatMap((cluster) =>
      this.entries(join(base, cluster)).map((file) => ({
        cluster,
        service: this.read(join(base, cluster, file), StoredService),
      })),
    );
  }
}
