import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerConfigSchema, HostConfigSchema } from '@ts-container/api';
import { writeFileAtomic } from '@ts-container/image';
import { IdMappingsSchema } from '@ts-container/unionfs';
import { z } from 'zod';
import { conflict, notFound } from './errors.js';

export const ContainerStatusSchema = z.enum([
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
]);
export type ContainerStatus = z.infer<typeof ContainerStatusSchema>;

export const ContainerStateSchema = z.object({
  Status: ContainerStatusSchema,
  Running: z.boolean(),
  Paused: z.boolean(),
  Restarting: z.boolean(),
  OOMKilled: z.boolean(),
  Dead: z.boolean(),
  Pid: z.number().int(),
  ExitCode: z.number().int(),
  Error: z.string(),
  StartedAt: z.string(),
  FinishedAt: z.string(),
  /** conmon's PID, to find the monitor again after a daemon restart. */
  MonitorPid: z.number().int().default(0),
  /** Present for containers with a health check (Docker's State.Health). */
  Health: z
    .object({
      Status: z.enum(['starting', 'healthy', 'unhealthy']),
      FailingStreak: z.number().int(),
      Log: z.array(
        z.object({ Start: z.string(), End: z.string(), ExitCode: z.number().int(), Output: z.string() }),
      ),
    })
    .optional(),
});
export type ContainerState = z.infer<typeof ContainerStateSchema>;

/** A volume, bind or tmpfs mounted into a container (Docker's MountPoint). */
export const MountPointSchema = z.object({
  Type: z.enum(['volume', 'bind', 'tmpfs']),
  /** The volume's name (volumes only). */
  Name: z.string().optional(),
  /** Host path for binds; for volumes, filled in when the volume is mounted. */
  Source: z.string().default(''),
  Destination: z.string(),
  Mode: z.string().default(''),
  RW: z.boolean().default(true),
  Propagation: z.string().default(''),
  /** Volumes: do not copy the image's files at the destination into an empty volume. */
  NoCopy: z.boolean().default(false),
  /** tmpfs: mount options (size=…, mode=…). */
  Options: z.array(z.string()).default([]),
});
export type MountPoint = z.infer<typeof MountPointSchema>;

/** What the engine keeps on disk per container; `inspect` is derived from it. */
export const ContainerRecordSchema = z.object({
  Id: z.string(),
  /** With Docker's leading slash. */
  Name: z.string(),
  Created: z.string(),
  Path: z.string(),
  Args: z.array(z.string()),
  /** The effective configuration: the request merged with the image's defaults. */
  Config: ContainerConfigSchema,
  HostConfig: HostConfigSchema,
  /** Image ID. */
  Image: z.string(),
  State: ContainerStateSchema,
  RestartCount: z.number().int().default(0),
  /** Set when a user stopped the container, so `unless-stopped` and `always` know not to restart it. */
  StoppedByUser: z.boolean().default(false),
  Driver: z.string(),
  LogPath: z.string(),
  HostnamePath: z.string(),
  HostsPath: z.string(),
  ResolvConfPath: z.string(),
  NetworkSettings: z.record(z.unknown()).default({}),
  /** Volumes, binds and tmpfs mounts, resolved at create (records from before have none). */
  MountPoints: z.array(MountPointSchema).default([]),
  /**
   * The user namespace mappings of a container created under `--userns-remap` (kept with it,
   * so a daemon restarted with other settings still runs it as it was made).
   */
  IdMappings: IdMappingsSchema.optional(),
});
export type ContainerRecord = z.infer<typeof ContainerRecordSchema>;

export const emptyState = (): ContainerState => ({
  Status: 'created',
  Running: false,
  Paused: false,
  Restarting: false,
  OOMKilled: false,
  Dead: false,
  Pid: 0,
  ExitCode: 0,
  Error: '',
  StartedAt: '0001-01-01T00:00:00Z',
  FinishedAt: '0001-01-01T00:00:00Z',
  MonitorPid: 0,
});

/** Containers on disk: `<root>/<id>/config.json`, written atomically, validated on load. */
export class ContainerStore {
  private readonly containers = new Map<string, ContainerRecord>();
  /** The update in progress (the last one queued) per container. */
  private readonly updates = new Map<string, Promise<ContainerRecord>>();

  constructor(readonly root: string) {}

  dir(id: string): string {
    return join(this.root, id);
  }

  /** Loads every container; directories without a valid record (a crash mid-create) are removed. */
  async load(): Promise<string[]> {
    await mkdir(this.root, { recursive: true });
    const dropped: string[] = [];
    for (const id of await readdir(this.root)) {
      const raw = await readFile(join(this.root, id, 'config.json'), 'utf8').catch(() => undefined);
      const parsed = raw === undefined ? undefined : ContainerRecordSchema.safeParse(JSON.parse(raw));
      if (parsed?.success) this.containers.set(id, parsed.data);
      else dropped.push(id);
    }
    return dropped;
  }

  all(): ContainerRecord[] {
    return [...this.containers.values()];
  }

  /** Finds a container by full ID, name (with or without `/`), or unique ID prefix. */
  find(ref: string): ContainerRecord | undefined {
    const byId = this.containers.get(ref);
    if (byId) return byId;
    const name = ref.startsWith('/') ? ref : `/${ref}`;
    for (const c of this.containers.values()) if (c.Name === name) return c;
    if (!/^[a-f0-9]+$/.test(ref)) return undefined;
    const matches = this.all().filter((c) => c.Id.startsWith(ref));
    if (matches.length > 1) throw conflict(`Multiple IDs found with provided prefix: ${ref}`);
    return matches[0];
  }

  get(ref: string): ContainerRecord {
    const found = this.find(ref);
    if (!found) throw notFound(`No such container: ${ref}`);
    return found;
  }

  nameInUse(name: string): ContainerRecord | undefined {
    for (const c of this.containers.values()) if (c.Name === name) return c;
    return undefined;
  }

  async save(record: ContainerRecord): Promise<void> {
    await writeFileAtomic(join(this.dir(record.Id), 'config.json'), JSON.stringify(record));
    this.containers.set(record.Id, record);
  }

  /**
   * Changes a record and saves it. Updates of one container run one after the other, each on
   * the record the previous one saved: two interleaved updates (an exit and a health check,
   * say) would otherwise each start from the same old record, and the last save would undo
   * the other's change.
   */
  async update(id: string, change: (record: ContainerRecord) => void): Promise<ContainerRecord> {
    const key = this.get(id).Id;
    // An earlier update's failure is its own caller's to handle; this one still runs.
    const previous = (this.updates.get(key) ?? Promise.resolve()).catch(() => undefined);
    const next = previous.then(async () => {
      const record = structuredClone(this.get(key));
      change(record);
      await this.save(record);
      return record;
    });
    this.updates.set(key, next);
    try {
      return await next;
    } finally {
      if (this.updates.get(key) === next) this.updates.delete(key);
    }
  }

  async delete(id: string): Promise<void> {
    this.containers.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }
}
