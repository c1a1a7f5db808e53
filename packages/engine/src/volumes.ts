import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@ts-container/image';
import { mountsUnder, unmount } from '@ts-container/unionfs';
import { execa } from 'execa';
import { z } from 'zod';
import { EngineError, conflict, invalidParameter, notFound } from './errors.js';

/** Docker's rule for volume names. */
const VALID_VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** What is kept on disk per volume (`<data-root>/volumes/<name>/volume.json`). */
export const VolumeRecordSchema = z.object({
  Name: z.string(),
  Driver: z.literal('local'),
  CreatedAt: z.string(),
  Labels: z.record(z.string()).default({}),
  /** The local driver's options: `type`, `device`, `o` (as `mount -t type -o o device`). */
  Options: z.record(z.string()).default({}),
  /** Made for `-v /path` or an image's VOLUME: removed with its container by `rm -v`. */
  Anonymous: z.boolean().default(false),
});
export type VolumeRecord = z.infer<typeof VolumeRecordSchema>;

/** A volume as the Engine API shows it. */
export interface Volume {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string>;
  UsageData?: { Size: number; RefCount: number };
}

export interface CreateVolumeOptions {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
  anonymous?: boolean;
}

/**
 * Docker's `local` volume driver: each volume is a directory (`<root>/<name>/_data`), or a
 * file system the driver mounts there at first use (`type`/`device`/`o` options: tmpfs, a
 * bind, a block device…). Metadata is one atomically written, validated file per volume.
 */
export class VolumeService {
  private readonly volumes = new Map<string, VolumeRecord>();

  private constructor(readonly root: string) {}

  /** Loads every volume; a directory a crash left without metadata is completed or removed. */
  static async open(root: string, logger?: { warn(msg: string): void }): Promise<VolumeService> {
    const service = new VolumeService(root);
    await mkdir(root, { recursive: true, mode: 0o701 });
    for (const name of await readdir(root)) {
      if (name.startsWith('.')) continue;
      const dir = join(root, name);
      const text = await readFile(join(dir, 'volume.json'), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      const parsed = text === undefined ? undefined : VolumeRecordSchema.safeParse(JSON.parse(text));
      if (parsed?.success) {
        service.volumes.set(name, parsed.data);
        continue;
      }
      const hasData = await stat(join(dir, '_data')).then(
        () => true,
        () => false,
      );
      if (hasData && VALID_VOLUME_NAME.test(name)) {
        // The data is there, the metadata write was interrupted (or damaged): keep the data.
        logger?.warn(`volume ${name}: metadata missing or invalid, recreated`);
        const record: VolumeRecord = {
          Name: name,
          Driver: 'local',
          CreatedAt: new Date().toISOString(),
          Labels: {},
          Options: {},
          Anonymous: false,
        };
        await writeFileAtomic(join(dir, 'volume.json'), JSON.stringify(record));
        service.volumes.set(name, record);
      } else {
        logger?.warn(`volume ${name}: incomplete, removed`);
        await rm(dir, { recursive: true, force: true });
      }
    }
    return service;
  }

  dataDir(name: string): string {
    return join(this.root, name, '_data');
  }

  has(name: string): boolean {
    return this.volumes.has(name);
  }

  /** Creates a volume, or returns the existing one of that name (as Docker does). */
  async create(options: CreateVolumeOptions = {}): Promise<Volume> {
    const driver = options.Driver || 'local';
    if (driver !== 'local') throw notFound(`plugin "${driver}" not found`);
    const name = options.Name || randomBytes(32).toString('hex');
    if (!VALID_VOLUME_NAME.test(name))
      throw invalidParameter(
        `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    const existing = this.volumes.get(name);
    if (existing) return this.view(existing);
    const opts = options.DriverOpts ?? {};
    for (const key of Object.keys(opts))
      if (!['type', 'device', 'o', 'size'].includes(key))
        throw invalidParameter(`invalid option key: "${key}"`);
    if ((opts.type === undefined) !== (opts.device === undefined) && opts.type !== 'tmpfs')
      throw invalidParameter('missing required option: "device"');
    const record: VolumeRecord = {
      Name: name,
      Driver: 'local',
      CreatedAt: new Date().toISOString(),
      Labels: options.Labels ?? {},
      Options: opts,
      // moby: a volume created without a name is anonymous (what `volume prune` removes by default).
      Anonymous: options.anonymous ?? !options.Name,
    };
    await mkdir(this.dataDir(name), { recursive: true });
    await writeFileAtomic(join(this.root, name, 'volume.json'), JSON.stringify(record));
    this.volumes.set(name, record);
    return this.view(record);
  }

  get(name: string): Volume {
    const record = this.volumes.get(name);
    if (!record) throw notFound(`get ${name}: no such volume`);
    return this.view(record);
  }

  record(name: string): VolumeRecord {
    const record = this.volumes.get(name);
    if (!record) throw notFound(`get ${name}: no such volume`);
    return record;
  }

  list(): Volume[] {
    return [...this.volumes.values()].map((r) => this.view(r));
  }

  /**
   * The directory to bind into a container: for a volume with mount options, the file system
   * is mounted there first (once; it stays until the volume is removed).
   */
  async mountpoint(name: string): Promise<string> {
    const record = this.record(name);
    const dir = this.dataDir(name);
    const { type, device, o } = record.Options;
    if (type !== undefined && (await mountsUnder(dir)).length === 0) {
      // As Docker's local driver: mount(2) with the user's type, device and options.
      const r = await execa('mount', ['-t', type, ...(o ? ['-o', o] : []), device ?? type, dir], {
        reject: false,
      });
      if (r.exitCode !== 0)
        throw new EngineError('system', `error while mounting volume '${dir}': ${r.stderr.trim()}`);
    }
    return dir;
  }

  /** Removes a volume; `inUseBy` lists the containers that still use it. */
  async remove(name: string, inUseBy: string[], force = false): Promise<void> {
    if (!this.volumes.has(name)) {
      if (force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    if (inUseBy.length > 0) throw conflict(`remove ${name}: volume is in use - [${inUseBy.join(', ')}]`);
    const dir = this.dataDir(name);
    for (const m of (await mountsUnder(dir)).reverse()) await unmount(m);
    this.volumes.delete(name);
    // Metadata first, so a crash in between leaves a directory the next start removes.
    await rm(join(this.root, name, 'volume.json'), { force: true });
    await rm(join(this.root, name), { recursive: true, force: true });
  }

  /** Bytes used by a volume's data (`du`, as Docker's `system df -v`). */
  async size(name: string): Promise<number> {
    const r = await execa('du', ['-s', '-B1', '-x', this.dataDir(name)], { reject: false });
    return r.exitCode === 0 ? Number(r.stdout.split(/\s/)[0]) : -1;
  }

  private view(r: VolumeRecord): Volume {
    return {
      Name: r.Name,
      Driver: r.Driver,
      Mountpoint: this.dataDir(r.Name),
      CreatedAt: r.CreatedAt,
      Labels: r.Labels,
      Scope: 'local',
      Options: r.Options,
    };
  }
}
