import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  type ArchiveFileEvent,
  type LayerScan,
  type ScanOutcome,
  applyLayer,
  chainIds,
  isDigest,
} from '@ts-container/image';
import type { Snapshotter } from '@ts-container/unionfs';

/**
 * Keys of the parentless snapshots a load unpacks layers into before it knows where they
 * belong; start-up repair removes any a crash left (see recovery.ts).
 */
export const LOAD_UNPACK_PREFIX = 'load-';

/** Layers unpacked ahead at once: each is a `tar` (or the JavaScript extractor) busy on disk. */
const AHEAD_UNPACKS = 3;

/** A layer unpacked into a parentless snapshot, not yet committed under its chain ID. */
interface Unpacked {
  key: string;
  contentSize: number;
}

/**
 * Unpacks the layers of a `docker load` while the rest of the archive is still arriving.
 * Where layers unpack independently of their parents (overlay), each uncompressed layer blob
 * is unpacked into a parentless snapshot as soon as it is stored, before any config names it
 * (an archive may hold its configs last): the layers extract side by side while the upload
 * goes on, and each is committed under its chain ID once a config names it and the layer
 * below is committed. Elsewhere a layer is unpacked once a config names it and its blob is
 * stored. Whatever was not unpacked here (a compressed layer, one whose unpack failed, one
 * whose parent never came) is unpacked afterwards by `ImageService.ensureLayers`, which also
 * reports the failures; snapshots unpacked here that no config claimed are removed.
 */
export class EarlyLayers {
  private readonly stored = new Map<string, ScanOutcome>();
  /** Layers unpacked (or being unpacked) ahead of any config, by DiffID. */
  private readonly ahead = new Map<string, Promise<Unpacked | undefined>>();
  /** The `ahead` unpacks a chain ID claimed. */
  private readonly claimed = new Set<string>();
  private readonly configs: string[][] = [];
  private readonly unpacks = new Map<string, Promise<boolean>>();
  private readonly waiting = new Map<string, Array<(ready: boolean) => void>>();
  private ended = false;
  private unpacking = 0;
  private readonly queued: Array<() => void> = [];
  /** An empty snapshot made ready for the next layer, so its unpack does not wait for one. */
  private spare: Promise<string> | undefined;
  /** Configs stored as they arrive. */
  private readonly configsStored: Promise<void>[] = [];
  /** Why layers were left to ensureLayers, for the daemon log. */
  readonly fallbacks: string[] = [];

  constructor(
    private readonly snapshotter: Snapshotter,
    private readonly open: (digest: string, scan: ScanOutcome) => Readable,
    /** Told of each layer committed here (the caller's GC lease). */
    private readonly onCommitted: (chainId: string) => void,
    /** Stores an image config (leased by the caller) while the rest of the archive arrives. */
    private readonly storeConfig: (digest: string, data: Buffer) => Promise<void>,
  ) {
    if (snapshotter.unpacksLayersIndependently) this.spare = this.prepareSpare();
  }

  /** `readImageArchive`'s `onFile`. */
  onFile(file: ArchiveFileEvent): void {
    if (this.ended) return;
    if (file.data !== undefined) {
      const diffIds = configDiffIds(file.data);
      if (diffIds === undefined) return;
      this.configs.push(diffIds);
      this.configsStored.push(this.storeConfig(file.digest, file.data));
    } else {
      this.stored.set(file.digest, file.scan);
      // A blob the store held already most likely belongs to layers unpacked already.
      if (isLayerScan(file.scan) && !file.existed && this.snapshotter.unpacksLayersIndependently)
        this.ahead.set(file.digest, this.unpackAhead(file.digest, file.scan));
    }
    this.startReady();
  }

  /** The archive is read: layers not started by now are left to ensureLayers. */
  async settle(): Promise<void> {
    this.ended = true;
    const spare = this.spare;
    this.spare = undefined;
    for (const [key, resolvers] of this.waiting) {
      this.waiting.delete(key);
      const unpack = this.unpacks.get(key);
      const ready = unpack ?? Promise.resolve(this.snapshotter.has(key));
      void ready.then((ok) => {
        for (const resolve of resolvers) resolve(ok);
      });
    }
    await Promise.all(this.unpacks.values());
    const unused = await spare?.catch(() => undefined);
    if (unused !== undefined && this.snapshotter.has(unused)) await this.snapshotter.remove(unused);
    // A config that could not be stored is stored again (and the failure reported) with its image.
    await Promise.allSettled(this.configsStored);
    // Unpacked ahead but never committed (no config named them, or the layer below failed).
    for (const unpacked of await Promise.all(this.ahead.values()))
      if (unpacked !== undefined && this.snapshotter.has(unpacked.key))
        await this.snapshotter.remove(unpacked.key);
  }

  private startReady(): void {
    for (const diffIds of this.configs) {
      const chain = chainIds(diffIds);
      for (const [i, diffId] of diffIds.entries()) {
        const key = chain[i]!;
        if (!this.stored.has(diffId) || this.unpacks.has(key) || this.snapshotter.has(key)) continue;
        const below = i === 0 ? undefined : chain[i - 1];
        const ahead = this.ahead.get(diffId);
        const claim = ahead !== undefined && !this.claimed.has(diffId);
        if (claim) this.claimed.add(diffId);
        this.unpacks.set(
          key,
          this.settled(
            key,
            claim ? this.commitAhead(diffId, ahead, key, below) : this.unpack(diffId, key, below),
          ),
        );
      }
    }
  }

  /** Unpacks an uncompressed layer blob into a parentless snapshot of its own. */
  private async unpackAhead(diffId: string, scan: ScanOutcome): Promise<Unpacked | undefined> {
    if (this.unpacking < AHEAD_UNPACKS) this.unpacking++;
    else await new Promise<void>((resolve) => this.queued.push(resolve));
    let key: string | undefined;
    try {
      key = await this.takeSpare();
      const result = await applyLayer(this.open(diffId, scan), this.snapshotter.upperDir(key), {
        whiteouts: this.snapshotter.driver.whiteouts,
      });
      if (result.diffId !== diffId) throw new Error('unpacked content differs');
      return { key, contentSize: result.contentSize };
    } catch (err) {
      this.fallbacks.push(`layer ${diffId}: ${(err as Error).message}`);
      if (key !== undefined && this.snapshotter.has(key)) await this.snapshotter.remove(key);
      return undefined;
    } finally {
      // The slot passes to the next layer waiting, if any.
      const next = this.queued.shift();
      if (next !== undefined) next();
      else this.unpacking--;
    }
  }

  /** The spare snapshot (or a new one), with the next spare made ready meanwhile. */
  private takeSpare(): Promise<string> {
    const spare = this.spare ?? this.prepareSpare();
    this.spare = this.ended ? undefined : this.prepareSpare();
    return spare;
  }

  private prepareSpare(): Promise<string> {
    const key = `${LOAD_UNPACK_PREFIX}${randomBytes(8).toString('hex')}`;
    const prepared = this.snapshotter.prepare(key).then(() => key);
    // Seen by whoever takes it (or by settle).
    prepared.catch(() => undefined);
    return prepared;
  }

  /** Commits a layer unpacked ahead as `key`, on `below` once that one is committed. */
  private async commitAhead(
    diffId: string,
    ahead: Promise<Unpacked | undefined>,
    key: string,
    below: string | undefined,
  ): Promise<void> {
    const unpacked = await ahead;
    if (unpacked === undefined) throw new Error(`layer ${diffId}: not unpacked`);
    if (below !== undefined && !(await this.ready(below)))
      throw new Error(`layer ${diffId}: the layer below was not unpacked`);
    // Made meanwhile (another load): the copy unpacked here goes at settle.
    if (this.snapshotter.has(key)) return;
    await this.snapshotter.commit(key, unpacked.key, { 'tsctr.size': String(unpacked.contentSize) }, below);
  }

  /** Unpacks a stored layer once a config named it (and, off overlay, once its parent is in). */
  private async unpack(diffId: string, key: string, below: string | undefined): Promise<void> {
    const parent = async () => {
      if (below !== undefined && !(await this.ready(below)))
        throw new Error(`layer ${diffId}: the layer below was not unpacked`);
      return below;
    };
    await this.snapshotter.unpackLayer(parent, this.open(diffId, this.stored.get(diffId)), (result) => {
      if (result.diffId !== diffId) throw new Error(`layer ${diffId}: unpacked content differs`);
      return key;
    });
  }

  /** Whether the work making layer `key` committed it; tells those waiting for it. */
  private async settled(key: string, work: Promise<void>): Promise<boolean> {
    const ok = await work.then(
      () => true,
      (err: Error) => {
        this.fallbacks.push(err.message);
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

function isLayerScan(scan: ScanOutcome): scan is LayerScan {
  return scan !== undefined && !(scan instanceof Error);
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
