import type { Readable } from 'node:stream';
import { type ArchiveFileEvent, type ScanOutcome, chainIds, isDigest } from '@ts-container/image';
import type { Snapshotter } from '@ts-container/unionfs';

/**
 * Unpacks the layers of a `docker load` while the rest of the archive is still arriving: as
 * soon as an image config names a layer (its DiffID, so an uncompressed blob) whose blob is
 * stored, the layer is unpacked, and committed on the layer below once that one is. An archive
 * lists its configs and layers in any order, so this starts what it can; whatever was not
 * unpacked here (a compressed layer, one whose unpack failed, one whose parent never came) is
 * unpacked afterwards by `ImageService.ensureLayers`, which also reports the failures.
 */
export class EarlyLayers {
  private readonly stored = new Map<string, ScanOutcome>();
  private readonly configs: string[][] = [];
  private readonly unpacks = new Map<string, Promise<boolean>>();
  private readonly waiting = new Map<string, Array<(ready: boolean) => void>>();
  private ended = false;
  /** Why layers were left to ensureLayers, for the daemon log. */
  readonly fallbacks: string[] = [];

  constructor(
    private readonly snapshotter: Snapshotter,
    private readonly open: (digest: string, scan: ScanOutcome) => Readable,
    /** Told of each layer committed here (the caller's GC lease). */
    private readonly onCommitted: (chainId: string) => void,
  ) {}

  /** `readImageArchive`'s `onFile`. */
  onFile(file: ArchiveFileEvent): void {
    if (this.ended) return;
    if (file.data !== undefined) {
      const diffIds = configDiffIds(file.data);
      if (diffIds === undefined) return;
      this.configs.push(diffIds);
    } else {
      this.stored.set(file.digest, file.scan);
    }
    this.startReady();
  }

  /** The archive is read: layers not started by now are left to ensureLayers. */
  async settle(): Promise<void> {
    this.ended = true;
    for (const [key, resolvers] of this.waiting) {
      this.waiting.delete(key);
      const unpack = this.unpacks.get(key);
      const ready = unpack ?? Promise.resolve(this.snapshotter.has(key));
      void ready.then((ok) => {
        for (const resolve of resolvers) resolve(ok);
      });
    }
    await Promise.all(this.unpacks.values());
  }

  private startReady(): void {
    for (const diffIds of this.configs) {
      const chain = chainIds(diffIds);
      for (const [i, diffId] of diffIds.entries()) {
        const key = chain[i]!;
        if (!this.stored.has(diffId) || this.unpacks.has(key) || this.snapshotter.has(key)) continue;
        this.unpacks.set(key, this.unpack(diffId, key, i === 0 ? undefined : chain[i - 1]));
      }
    }
  }

  private async unpack(diffId: string, key: string, below: string | undefined): Promise<boolean> {
    const parent = async () => {
      if (below !== undefined && !(await this.ready(below)))
        throw new Error(`layer ${diffId}: the layer below was not unpacked`);
      return below;
    };
    const ok = await this.snapshotter
      .unpackLayer(parent, this.open(diffId, this.stored.get(diffId)), (result) => {
        if (result.diffId !== diffId) throw new Error(`layer ${diffId}: unpacked content differs`);
        return key;
      })
      .then(
        () => true,
        (err: Error) => {
          this.fallbacks.push(`layer ${diffId}: ${err.message}`);
          return false;
        },
      );
    if (ok) this.onCommitted(key);
    for (const resolve of this.waiting.get(key) ?? []) resolve(ok);
    this.waiting.delete(key);
    return ok;
  }

  /** Whether layer `key` is (or becomes) committed; false once the archive ends without it. */
  private ready(key: string): Promise<boolean> {
    const unpack = this.unpacks.get(key);
    if (unpack !== undefined) return unpack;
    if (this.snapshotter.has(key) || this.ended) return Promise.resolve(this.snapshotter.has(key));
    return new Promise((resolve) => {
      const list = this.waiting.get(key) ?? [];
      list.push(resolve);
      this.waiting.set(key, list);
    });
  }
}

/** The DiffIDs of an image config, or undefined when the JSON is not one. */
function configDiffIds(data: Buffer): string[] | undefined {
  if (data[0] !== 0x7b) return undefined;
  try {
    const diffIds = (JSON.parse(data.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs
      ?.diff_ids;
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && isDigest(d)))
      return undefined;
    return diffIds as string[];
  } catch {
    // Not JSON: another small file of the archive (a manifest is JSON too, without rootfs).
    return undefined;
  }
}
