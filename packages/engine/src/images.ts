import type { Readable } from 'node:stream';
import { type ImageSummary, labelFilterMatches } from '@ts-container/api';
import { matchPath } from '@ts-container/builder';
import { hostPlatform } from '@ts-container/common';
import {
  type ContentStore,
  type ImageConfig,
  type ImageReference,
  type ImageStore,
  NoSuchImageError,
  type StoredImage,
  chainIds,
  decompressStream,
  familiarName,
  familiarRepository,
  formatReference,
  isDigest,
  parseReference,
  repositoryName,
} from '@ts-container/image';
import type { Snapshotter } from '@ts-container/unionfs';
import { invalidParameter } from './errors.js';
import { type Lease, LeaseManager, referencedByImages } from './gc.js';
import { type ImageRemoval, type RemoveImageOptions, removeImage } from './image-removal.js';
import { applyConfigChanges } from './import-changes.js';

export type { ImageDeleteEntry, ImageRemoval, RemoveImageOptions } from './image-removal.js';

/** Layers unpacked at once by ensureLayers: each is a `tar` or a JavaScript extractor busy on disk. */
const LAYER_UNPACKS = 3;

export interface ImportOptions {
  /** `repo[:tag]` to tag the new image with. */
  reference?: string;
  /** Commit message (`docker import -m`), stored as the history comment. */
  message?: string;
  /** Dockerfile-style changes (`-c`): `CMD ["sh"]`, `ENV A=b`, … */
  changes?: string[];
  /** Where the tarball came from, for the default history comment ("Imported from -"). */
  source?: string;
}

/** Images: the image store plus the layers each image needs unpacked in the snapshotter. */
export class ImageService {
  /** What in-flight loads, imports and pulls have stored but not yet referenced from an image. */
  readonly leases = new LeaseManager();

  constructor(
    readonly content: ContentStore,
    readonly store: ImageStore,
    readonly snapshotter: Snapshotter,
  ) {}

  /** `docker import`: one layer from a rootfs tarball (plain, gzip or zstd). */
  async importRootfs(source: Readable, options: ImportOptions = {}): Promise<string> {
    const tag = options.reference ? parseReference(options.reference) : undefined;
    const lease = this.leases.create();
    try {
      return await this.importLeased(source, options, tag !== undefined, lease);
    } catch (err) {
      lease.release();
      await this.dropUnreferencedBlobs(lease.items());
      throw err;
    } finally {
      lease.release();
    }
  }

  /**
   * Removes the blobs a failed import or load stored that no image references and no other
   * operation holds: a bad upload leaves nothing in the content store.
   */
  async dropUnreferencedBlobs(digests: readonly string[]): Promise<void> {
    const candidates = digests.filter((d) => isDigest(d) && !this.leases.has(d));
    if (candidates.length === 0) return;
    const { blobs } = await referencedByImages(this.store);
    for (const d of candidates) if (!blobs.has(d)) await this.content.delete(d);
  }

  private async importLeased(
    source: Readable,
    options: ImportOptions,
    tag: boolean,
    lease: Lease,
  ): Promise<string> {
    // The layer blob is kept uncompressed, so its digest is its DiffID.
    const blob = await this.content.ingestStream(
      await decompressStream(source),
      `import-${Date.now()}-${process.pid}`,
    );
    lease.add(blob.digest);
    for (const key of await this.ensureLayers([blob.digest])) lease.add(key);
    const now = new Date().toISOString();
    let config: ImageConfig = {
      ...hostPlatform(),
      created: now,
      config: {},
      rootfs: { type: 'layers', diff_ids: [blob.digest] },
      history: [
        {
          created: now,
          created_by: '',
          comment: options.message || `Imported from ${options.source ?? '-'}`,
        },
      ],
    };
    if (options.message) config.comment = options.message;
    if (options.changes && options.changes.length > 0) config = applyConfigChanges(config, options.changes);
    const id = await this.store.create(config, {
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: blob.digest, size: blob.size },
      ],
    });
    if (tag) await this.store.tag(id, options.reference!);
    return id;
  }

  /**
   * Makes sure each layer (by DiffID, bottom first) is unpacked as a snapshot named by its
   * chain ID, unpacking from the layer blobs in the content store where needed. `openBlob`
   * reads a blob (a load hands over the pre-scans it made while storing them).
   */
  async ensureLayers(
    diffIds: string[],
    blobFor: (diffId: string) => string = (d) => d,
    openBlob: (digest: string) => Readable = (d) => this.content.createReadStream(d),
  ): Promise<string[]> {
    const chain = chainIds(diffIds);
    const unpack = (i: number, parent: string | undefined | (() => Promise<string | undefined>)) =>
      this.snapshotter.unpackLayer(parent, openBlob(blobFor(diffIds[i]!)), (result) => {
        // Checked before the commit: a layer that is not the one named never becomes a snapshot.
        if (result.diffId !== diffIds[i])
          throw invalidParameter(`layer ${diffIds[i]}: unpacked content has DiffID ${result.diffId}`);
        return chain[i]!;
      });
    // A few layers at a time, lowest first, each committed on its parent once that one is. Where
    // the snapshotter unpacks layers independently (overlay) they extract side by side (`load` of
    // a 3-layer image: 1.03 -> 0.71 s); elsewhere each unpack waits for its parent to begin.
    const committed: Promise<unknown>[] = [];
    let next = 0;
    let failed = false;
    const worker = async () => {
      // After a failure no new layer is started: every one above it would fail on its parent.
      for (let i = next++; i < chain.length && !failed; i = next++) {
        const below = i === 0 ? undefined : committed[i - 1];
        if (this.snapshotter.has(chain[i]!)) {
          committed[i] = Promise.resolve();
          continue;
        }
        committed[i] = unpack(i, async () => {
          await below;
          return i === 0 ? undefined : chain[i - 1];
        });
        // A failure is reported below, once every unpack under way has stopped.
        await committed[i]!.catch(() => {
          failed = true;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(LAYER_UNPACKS, chain.length) }, worker));
    const outcomes = await Promise.allSettled(committed);
    const firstFailure = outcomes.find((o) => o.status === 'rejected');
    if (firstFailure) throw firstFailure.reason;
    return chain;
  }

  /** The chain ID of the image's top layer (what a container snapshot is prepared on). */
  topLayer(config: ImageConfig): string | undefined {
    return chainIds(config.rootfs.diff_ids).at(-1);
  }

  async get(ref: string): Promise<StoredImage> {
    return this.store.get(this.store.resolve(ref));
  }

  imageSize(config: ImageConfig): number {
    return chainIds(config.rootfs.diff_ids).reduce(
      (sum, key) => sum + (this.snapshotter.has(key) ? this.snapshotter.layerSize(key) : 0),
      0,
    );
  }

  /**
   * `GET /images/json`. With `references` (the `reference` filter, `docker images REPO[:TAG]`)
   * only images with a matching reference are listed, each with just its matching tags and
   * digests; a pattern matches a reference's familiar form or its repository (Go's path.Match).
   * `dangling` (moby's filter): true lists untagged images without children, false only images
   * with a reference (a digest counts).
   */
  async summaries(
    options: {
      all?: boolean;
      containersUsing?: (id: string) => number;
      references?: string[];
      dangling?: boolean;
    } = {},
  ): Promise<ImageSummary[]> {
    const out: ImageSummary[] = [];
    const patterns = options.references;
    for (const image of await this.store.list()) {
      const refs = this.store
        .references(image.record.id)
        .map((r) => parseReference(r, { defaultTag: false }))
        .filter((r) => patterns === undefined || patterns.some((p) => referenceMatches(p, r)));
      if (patterns !== undefined && refs.length === 0) continue;
      const hasChildren = this.store.children(image.record.id).length > 0;
      // Docker hides intermediate images (untagged parents of other images) unless -a.
      if (!options.all && refs.length === 0 && hasChildren) continue;
      if (options.dangling === false && refs.length === 0) continue;
      if (options.dangling === true && (hasChildren || refs.some((r) => r.digest === undefined))) continue;
      const size = this.imageSize(image.config);
      out.push({
        Id: image.record.id,
        ParentId: image.record.parent ?? '',
        RepoTags: refs.filter((r) => r.digest === undefined).map(familiarName),
        RepoDigests: refs.filter((r) => r.digest !== undefined).map(familiarName),
        Created: Math.floor(Date.parse(image.config.created ?? image.record.stored) / 1000),
        Size: size,
        SharedSize: -1,
        VirtualSize: size,
        Labels: (image.config.config?.Labels ?? {}) as Record<string, string>,
        Containers: options.containersUsing?.(image.record.id) ?? -1,
      });
    }
    out.sort((a, b) => b.Created - a.Created);
    return out;
  }

  /** `docker rmi` by moby's rules (see removeImage). */
  remove(ref: string, options: RemoveImageOptions): Promise<ImageRemoval> {
    return removeImage(this.store, ref, options);
  }

  /** Records that a container was created from the image (for least-recently-used eviction). */
  async markUsed(id: string, when = new Date()): Promise<void> {
    if (!this.store.has(id)) return;
    await this.store.update(id, (r) => {
      r.lastUsed = when.toISOString();
    });
  }

  /**
   * `docker image prune`: removes dangling images (untagged, no child images), or with `all`
   * every image no container uses, honouring `until` and `label` filters like Docker.
   * Returns the `{Untagged}`/`{Deleted}` report; the caller collects garbage for the space.
   */
  async prune(options: {
    all?: boolean;
    filters?: Map<string, string[]>;
    usedBy: (id: string) => string[];
  }): Promise<Array<{ Untagged?: string; Deleted?: string }>> {
    const filters = options.filters ?? new Map<string, string[]>();
    for (const key of filters.keys())
      if (!['until', 'label', 'label!', 'dangling'].includes(key))
        throw invalidParameter(`invalid filter '${key}'`);
    const dangling = filters.get('dangling')?.[0];
    const all = options.all === true || dangling === 'false' || dangling === '0';
    const until = filters.get('until')?.map(parseTimestamp);
    const report: Array<{ Untagged?: string; Deleted?: string }> = [];
    // Leaves first, so that removing a child can make its parent prunable in the same pass.
    for (let changed = true; changed; ) {
      changed = false;
      for (const image of await this.store.list()) {
        const id = image.record.id;
        if (options.usedBy(id).length > 0) continue;
        if (this.store.children(id).length > 0) continue;
        if (!all && image.tags.length > 0) continue;
        const created = Date.parse(image.config.created ?? image.record.stored) / 1000;
        if (until?.some((u) => created >= u)) continue;
        const labels = (image.config.config?.Labels ?? {}) as Record<string, string>;
        if (!matchLabels(labels, filters.get('label') ?? [], true)) continue;
        if (!matchLabels(labels, filters.get('label!') ?? [], false)) continue;
        for (const r of this.store.references(id)) {
          await this.store.removeReference(r);
          report.push({ Untagged: familiarName(parseReference(r, { defaultTag: false })) });
        }
        await this.store.delete(id);
        report.push({ Deleted: id });
        changed = true;
      }
    }
    return report;
  }

  /** Sizes for `docker system df`: each image's layers, with the part shared with other images. */
  async diskUsage(containersUsing: (id: string) => number): Promise<{
    layersSize: number;
    images: ImageSummary[];
  }> {
    const list = await this.summaries({ all: true, containersUsing });
    // The store's shared configs, read only here (get() would copy each one).
    const configs = new Map((await this.store.list()).map((i) => [i.record.id, i.config]));
    const users = new Map<string, number>();
    const layersOf = new Map<string, string[]>();
    for (const image of list) {
      const config = configs.get(image.Id) ?? (await this.store.get(image.Id)).config;
      const keys = [...new Set(chainIds(config.rootfs.diff_ids))].filter((k) => this.snapshotter.has(k));
      layersOf.set(image.Id, keys);
      for (const k of keys) users.set(k, (users.get(k) ?? 0) + 1);
    }
    let layersSize = 0;
    for (const k of users.keys()) layersSize += this.snapshotter.layerSize(k);
    for (const image of list) {
      image.SharedSize = (layersOf.get(image.Id) ?? [])
        .filter((k) => (users.get(k) ?? 0) > 1)
        .reduce((sum, k) => sum + this.snapshotter.layerSize(k), 0);
    }
    return { layersSize, images: list };
  }

  /**
   * The disk budget (`image-gc-budget`): while the layers of all images take more than
   * `budget` bytes, deletes the least recently used image that no container uses (tagged or
   * not). Returns the IDs deleted; the caller collects garbage afterwards.
   */
  async enforceBudget(budget: number, usedBy: (id: string) => string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (;;) {
      const { layersSize } = await this.diskUsage(() => 0);
      if (layersSize <= budget) return deleted;
      const candidates = (await this.store.list())
        .filter((i) => usedBy(i.record.id).length === 0 && this.store.children(i.record.id).length === 0)
        .sort((a, b) => lastUse(a) - lastUse(b));
      const victim = candidates[0];
      if (!victim) return deleted;
      await this.store.delete(victim.record.id);
      deleted.push(victim.record.id);
    }
  }
}

/** distribution/reference's FamiliarMatch: the pattern against `name:tag`/`name@digest`, or the name. */
function referenceMatches(pattern: string, ref: ImageReference): boolean {
  return matchPath(pattern, familiarName(ref)) || matchPath(pattern, familiarRepository(ref));
}

function lastUse(image: StoredImage): number {
  return Date.parse(image.record.lastUsed ?? image.record.stored);
}

/** Docker filter timestamps: RFC 3339, a Unix time, or a duration like `10m` before now. */
function parseTimestamp(value: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
  const d = /^(\d+)(ns|us|ms|s|m|h)$/.exec(value);
  if (d) {
    const unit = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }[d[2] as 'ns'];
    return Date.now() / 1000 - Number(d[1]) * unit;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw invalidParameter(`failed to parse value as time or duration: "${value}"`);
  return t / 1000;
}

/** `label=k`, `label=k=v` (all must match) or `label!=…` (none may match). */
function matchLabels(labels: Record<string, string>, wanted: string[], positive: boolean): boolean {
  return wanted.every((w) => labelFilterMatches(labels, w) === positive);
}
