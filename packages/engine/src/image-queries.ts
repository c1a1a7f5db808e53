import { type ImageSummary, labelFilterMatches } from '@ts-container/api';
import { type StoredImage, chainIds, familiarName, parseReference } from '@ts-container/image';
import type { Snapshotter } from '@ts-container/unionfs';
import { invalidParameter } from './errors.js';
import type { ImageService } from './images.js';

export interface ImageQueriesOptions {
  images: Pick<ImageService, 'summaries' | 'get' | 'imageSize' | 'prune'>;
  /** Local images by ID (a parent chain is walked through it). */
  imageStore: { has(id: string): boolean; get(id: string): Promise<StoredImage> };
  snapshotter: Pick<Snapshotter, 'has' | 'layerSize' | 'chain' | 'upperDir' | 'driver'>;
  /** The containers using an image. */
  usedBy: (imageId: string) => string[];
  /** How many containers use each image, counted in one pass over the containers. */
  containerCounts: () => Map<string, number>;
  /** Frees blobs and layers nothing references any more; returns the bytes freed. */
  collectGarbage: () => Promise<{ bytes: number }>;
}

const LIST_FILTERS = ['dangling', 'label', 'before', 'since', 'reference', 'until'];

/** `docker images`, `image inspect`, `history` and `image prune` over the image store and its layers. */
export class ImageQueries {
  constructor(private readonly options: ImageQueriesOptions) {}

  async list(options: { all?: boolean; filters?: Map<string, string[]> } = {}): Promise<ImageSummary[]> {
    const { images } = this.options;
    const filters = options.filters ?? new Map<string, string[]>();
    for (const key of filters.keys())
      if (!LIST_FILTERS.includes(key)) throw invalidParameter(`invalid filter '${key}'`);
    const references = filters.get('reference');
    const dangling = filters.get('dangling')?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling))
      throw invalidParameter(`Invalid filter 'dangling=${dangling}'`);
    const counts = this.options.containerCounts();
    let list = await images.summaries({
      all: options.all ?? false,
      containersUsing: (id) => counts.get(id) ?? 0,
      ...(references ? { references } : {}),
      ...(dangling !== undefined ? { dangling: dangling === 'true' || dangling === '1' } : {}),
    });
    // before/since: images created before or after the named one.
    for (const [key, keep] of [
      ['before', (c: number, ref: number) => c < ref],
      ['since', (c: number, ref: number) => c > ref],
    ] as const) {
      for (const name of filters.get(key) ?? []) {
        const ref = await images.get(name);
        const created = Math.floor(Date.parse(ref.config.created ?? ref.record.stored) / 1000);
        list = list.filter((i) => i.Id !== ref.record.id && keep(i.Created, created));
      }
    }
    const until = filters.get('until')?.[0];
    if (until !== undefined) {
      const limit = /^\d+$/.test(until) ? Number(until) : Date.parse(until) / 1000;
      if (Number.isNaN(limit))
        throw invalidParameter(`failed to parse value as time or duration: "${until}"`);
      list = list.filter((i) => i.Created < limit);
    }
    const labels = filters.get('label');
    if (labels) list = list.filter((i) => labels.every((l) => labelFilterMatches(i.Labels, l)));
    return list;
  }

  /** `GET /images/{name}/json`. */
  async inspect(name: string): Promise<Record<string, unknown>> {
    const image = await this.options.images.get(name);
    const config = image.config;
    return {
      Id: image.record.id,
      RepoTags: image.tags.map((t) => familiarName(parseReference(t))),
      RepoDigests: image.record.repoDigests.map((d) => familiarName(parseReference(d))),
      Parent: image.record.parent ?? '',
      Comment: config.comment ?? '',
      Created: config.created ?? image.record.stored,
      DockerVersion: config.docker_version ?? '',
      Author: config.author ?? '',
      Config: config.config ?? {},
      Architecture: config.architecture,
      Variant: config.variant,
      Os: config.os,
      Size: this.options.images.imageSize(config),
      GraphDriver: this.graphDriver(config.rootfs.diff_ids),
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      Metadata: { LastTagTime: image.tags.length > 0 ? image.record.stored : '0001-01-01T00:00:00Z' },
    };
  }

  /**
   * `docker history`, newest first. Entries that end a locally known image (this one or its
   * parents) show that image's ID and tags; the rest came from elsewhere and show `<missing>`.
   */
  async history(name: string): Promise<ImageHistoryRow[]> {
    const { imageStore } = this.options;
    const image = await this.options.images.get(name);
    const history = image.config.history ?? [];
    const diffIds = [...image.config.rootfs.diff_ids];
    const known = new Map<number, { id: string; tags: string[] }>();
    for (let cur: StoredImage | undefined = image, depth = 0; cur && depth < 1000; depth++) {
      const count = cur.config.history?.length ?? 0;
      if (count > 0 && !known.has(count - 1))
        known.set(count - 1, {
          id: cur.record.id,
          tags: cur.tags.map((t) => familiarName(parseReference(t))),
        });
      const parent: string | undefined = cur.record.parent;
      cur = parent && imageStore.has(parent) ? await imageStore.get(parent) : undefined;
    }
    let layerIndex = -1;
    const rows = history.map((h, i) => {
      const emptyLayer = h.empty_layer === true;
      if (!emptyLayer) layerIndex++;
      const local = known.get(i);
      return {
        Id: local?.id ?? '<missing>',
        Created: Math.floor(Date.parse(h.created ?? '1970-01-01T00:00:00Z') / 1000),
        CreatedBy: h.created_by ?? '',
        Tags: local && local.tags.length > 0 ? local.tags : null,
        Size: !emptyLayer && diffIds[layerIndex] ? this.layerSize(diffIds, layerIndex) : 0,
        Comment: h.comment ?? '',
      };
    });
    return rows.reverse();
  }

  /** `docker image prune`: unused images by the filters, then their blobs and layers. */
  async prune(filters: Map<string, string[]> = new Map()): Promise<{
    ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null;
    SpaceReclaimed: number;
  }> {
    const deleted = await this.options.images.prune({ filters, usedBy: this.options.usedBy });
    const freed = await this.options.collectGarbage();
    return { ImagesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: freed.bytes };
  }

  /**
   * Docker's GraphDriver: for overlay (overlay2's layout), the top layer's directories and the
   * ones below it; the copy driver keeps no such directories (as Docker's vfs: no data).
   */
  private graphDriver(diffIds: string[]): { Name: string; Data: Record<string, string> | null } {
    const { snapshotter } = this.options;
    const name = snapshotter.driver.name;
    const top = chainIds(diffIds).at(-1);
    if (name !== 'overlay' || top === undefined || !snapshotter.has(top)) return { Name: name, Data: null };
    const upper = snapshotter.upperDir(top);
    const lower = snapshotter
      .chain(top)
      .slice(1)
      .map((s) => snapshotter.upperDir(s.key));
    // overlay: <id>/diff is the layer, <id>/work overlayfs' work directory beside it.
    const base = upper.replace(/\/diff$/, '');
    return {
      Name: name,
      Data: {
        ...(lower.length > 0 ? { LowerDir: lower.join(':') } : {}),
        MergedDir: `${base}/merged`,
        UpperDir: upper,
        WorkDir: `${base}/work`,
      },
    };
  }

  private layerSize(diffIds: string[], index: number): number {
    // A layer's snapshot is named by its chain ID.
    const key = chainIds(diffIds.slice(0, index + 1)).at(-1)!;
    return this.options.snapshotter.has(key) ? this.options.snapshotter.layerSize(key) : 0;
  }
}

export interface ImageHistoryRow {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export interface ImageBudgetOptions {
  /** Bytes of image layers allowed; undefined or ≤ 0: no budget. */
  budget: number | undefined;
  images: Pick<ImageService, 'enforceBudget'>;
  usedBy: (imageId: string) => string[];
  collectGarbage: () => Promise<unknown>;
  /** Where a failed periodic check is reported. */
  onError: (err: unknown) => void;
}

/**
 * The optional disk budget (`--image-gc-budget`, `EngineOptions.imageGcBudget`): least recently
 * used images that no container uses are removed, and their blobs and layers collected, until
 * the image layers fit. Checked after a load or import, and every minute (images also arrive by
 * pull, build and commit).
 */
export class ImageBudget {
  private readonly budget: number | undefined;

  private constructor(private readonly options: ImageBudgetOptions) {
    this.budget = typeof options.budget === 'number' && options.budget > 0 ? options.budget : undefined;
  }

  /** A budget whose periodic check runs (on an unref'd timer: it keeps no process alive). */
  static start(options: ImageBudgetOptions, intervalMs = 60_000): ImageBudget {
    const budget = new ImageBudget(options);
    if (budget.budget !== undefined)
      setInterval(() => void budget.enforce().catch(options.onError), intervalMs).unref();
    return budget;
  }

  /** Removes images until the layers fit; returns the IDs removed. */
  async enforce(): Promise<string[]> {
    if (this.budget === undefined) return [];
    const deleted = await this.options.images.enforceBudget(this.budget, this.options.usedBy);
    if (deleted.length > 0) await this.options.collectGarbage();
    return deleted;
  }
}
