import type { Readable } from 'node:stream';
import type { ImageSummary } from '@ts-container/api';
import {
  type ContentStore,
  type ImageConfig,
  type ImageStore,
  type StoredImage,
  chainIds,
  decompressStream,
  familiarName,
  hostPlatform,
  parseReference,
} from '@ts-container/image';
import type { Snapshotter } from '@ts-container/unionfs';
import { conflict, invalidParameter } from './errors.js';
import { applyConfigChanges } from './import-changes.js';

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
  constructor(
    readonly content: ContentStore,
    readonly store: ImageStore,
    readonly snapshotter: Snapshotter,
  ) {}

  /** `docker import`: one layer from a rootfs tarball (plain, gzip or zstd). */
  async importRootfs(source: Readable, options: ImportOptions = {}): Promise<string> {
    const tag = options.reference ? parseReference(options.reference) : undefined;
    // The layer blob is kept uncompressed, so its digest is its DiffID.
    const blob = await this.content.ingestStream(
      await decompressStream(source),
      `import-${Date.now()}-${process.pid}`,
    );
    await this.ensureLayers([blob.digest]);
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
   * chain ID, unpacking from the layer blobs in the content store where needed.
   */
  async ensureLayers(diffIds: string[], blobFor: (diffId: string) => string = (d) => d): Promise<string[]> {
    const chain = chainIds(diffIds);
    for (let i = 0; i < chain.length; i++) {
      const key = chain[i]!;
      if (this.snapshotter.has(key)) continue;
      const parent = i === 0 ? undefined : chain[i - 1];
      const expected = diffIds[i]!;
      const result = await this.snapshotter.unpackLayer(
        parent,
        this.content.createReadStream(blobFor(expected)),
        () => key,
      );
      if (result.diffId !== expected) {
        await this.snapshotter.remove(key);
        throw invalidParameter(`layer ${expected}: unpacked content has DiffID ${result.diffId}`);
      }
    }
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

  async summaries(
    options: { all?: boolean; containersUsing?: (id: string) => number } = {},
  ): Promise<ImageSummary[]> {
    const out: ImageSummary[] = [];
    for (const image of await this.store.list()) {
      const size = this.imageSize(image.config);
      out.push({
        Id: image.record.id,
        ParentId: image.record.parent ?? '',
        RepoTags: image.tags.map((t) => familiarName(parseReference(t))),
        RepoDigests: image.record.repoDigests.map((d) => familiarName(parseReference(d))),
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

  /**
   * `docker rmi`: untags `ref`; when no tag is left (or an ID was given) deletes the image.
   * Returns Docker's list of `{Untagged}` / `{Deleted}` entries.
   */
  async remove(
    ref: string,
    options: { force?: boolean; usedBy: (id: string) => string[] },
  ): Promise<Array<{ Untagged?: string; Deleted?: string }>> {
    const id = this.store.resolve(ref);
    const report: Array<{ Untagged?: string; Deleted?: string }> = [];
    const tags = this.store.tagsOf(id);
    const byName = !/^(sha256:)?[a-f0-9]{4,64}$/.test(ref) || tags.some((t) => t === ref);
    const users = options.usedBy(id);
    if (byName && tags.length > 1 && !options.force) {
      const removed = await this.store.untag(ref);
      if (removed) report.push({ Untagged: familiarName(parseReference(ref)) });
      return report;
    }
    if (!byName && tags.length > 1 && !options.force) {
      throw conflict(
        `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`,
      );
    }
    if (users.length > 0 && !options.force) {
      const what = byName ? `remove repository reference "${ref}"` : `delete ${id.slice(7, 19)}`;
      throw conflict(
        `conflict: unable to ${what} (must force) - container ${users[0]!.slice(0, 12)} is using its referenced image ${id.slice(7, 19)}`,
      );
    }
    for (const t of tags) report.push({ Untagged: familiarName(parseReference(t)) });
    if (users.length > 0) {
      // Forced while in use: Docker untags but keeps the image for its containers.
      for (const t of tags) await this.store.untag(t);
      return report;
    }
    if (this.store.children(id).length > 0 && tags.length === 0 && !options.force) {
      throw conflict(
        `conflict: unable to delete ${id.slice(7, 19)} (cannot be forced) - image has dependent child images`,
      );
    }
    await this.store.delete(id);
    report.push({ Deleted: id });
    return report;
  }
}
