import { compareApiVersions, labelFilterMatches } from '@ts-container/api';
import { invalidParameter } from './errors.js';
import type { CreateVolumeOptions, Volume, VolumeService } from './volumes.js';

export interface VolumeQueriesOptions {
  volumes: Pick<VolumeService, 'list' | 'get' | 'record' | 'size' | 'remove' | 'create'>;
  /** The containers using a volume. */
  usedBy: (name: string) => string[];
}

const LIST_FILTERS = new Set(['name', 'label', 'dangling', 'driver']);
const PRUNE_FILTERS = new Set(['label', 'label!', 'all']);

/** The `/volumes` API (Docker's local driver): list filters, prune, usage and in-use checks. */
export class VolumeQueries {
  constructor(private readonly options: VolumeQueriesOptions) {}

  list(filters: Map<string, string[]> = new Map()): { Volumes: Volume[]; Warnings: null } {
    for (const key of filters.keys())
      if (!LIST_FILTERS.has(key)) throw invalidParameter(`invalid filter '${key}'`);
    const list = this.options.volumes
      .list()
      .filter((v) => matchesVolumeFilters(v, filters, this.options.usedBy(v.Name).length));
    return { Volumes: list, Warnings: null };
  }

  create(options: CreateVolumeOptions): Promise<Volume> {
    return this.options.volumes.create(options);
  }

  get(name: string): Volume {
    return this.options.volumes.get(name);
  }

  /** `docker volume rm`: refused while a container uses it, unless forced. */
  remove(name: string, force = false): Promise<void> {
    return this.options.volumes.remove(name, this.options.usedBy(name), force);
  }

  /**
   * `docker volume prune`: unused volumes by label. API 1.42+ removes only anonymous volumes
   * unless `all=true`; before 1.42 every unused volume.
   */
  async prune(
    filters: Map<string, string[]> = new Map(),
    apiVersion?: string,
  ): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    for (const key of filters.keys())
      if (!PRUNE_FILTERS.has(key)) throw invalidParameter(`invalid filter '${key}'`);
    const all =
      (apiVersion !== undefined && compareApiVersions(apiVersion, '1.42') < 0) ||
      (filters.get('all') ?? []).some((v) => v === 'true' || v === '1');
    const { volumes } = this.options;
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of volumes.list()) {
      if (this.options.usedBy(v.Name).length > 0) continue;
      if (!all && !volumes.record(v.Name).Anonymous) continue;
      if (!(filters.get('label') ?? []).every((l) => labelFilterMatches(v.Labels, l))) continue;
      if ((filters.get('label!') ?? []).some((l) => labelFilterMatches(v.Labels, l))) continue;
      reclaimed += Math.max(0, await volumes.size(v.Name));
      await volumes.remove(v.Name, []);
      deleted.push(v.Name);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /** `system df` rows: each volume with its size and the number of containers using it. */
  async usage(): Promise<Volume[]> {
    const out: Volume[] = [];
    for (const v of this.options.volumes.list())
      out.push({
        ...v,
        UsageData: {
          Size: await this.options.volumes.size(v.Name),
          RefCount: this.options.usedBy(v.Name).length,
        },
      });
    return out;
  }
}

function matchesVolumeFilters(v: Volume, filters: Map<string, string[]>, refs: number): boolean {
  for (const [key, values] of filters) {
    const ok =
      key === 'label'
        ? values.every((l) => labelFilterMatches(v.Labels, l))
        : values.some((value) => {
            if (key === 'name') return v.Name.includes(value);
            if (key === 'driver') return v.Driver === value;
            if (key === 'dangling') return (value === 'true' || value === '1') === (refs === 0);
            return false;
          });
    if (!ok) return false;
  }
  return true;
}
