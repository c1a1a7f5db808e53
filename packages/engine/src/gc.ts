import { type ContentStore, type ImageStore, chainIds } from '@ts-container/image';
import type { Snapshotter } from '@ts-container/unionfs';
import type { ContainerStore } from './container-store.js';

/** Blobs and layers an operation in flight still needs (containerd's leases). */
export interface Lease {
  add(digestOrKey: string): void;
  /** What the lease holds. */
  items(): string[];
  release(): void;
}

/**
 * Leases protect what a load, import or pull has stored but not yet referenced from an image:
 * the garbage collector treats every leased digest or layer key as live.
 */
export class LeaseManager {
  private readonly active = new Set<Set<string>>();

  create(): Lease {
    const held = new Set<string>();
    this.active.add(held);
    return {
      add: (d) => {
        held.add(d);
      },
      items: () => [...held],
      release: () => {
        this.active.delete(held);
      },
    };
  }

  has(digestOrKey: string): boolean {
    for (const held of this.active) if (held.has(digestOrKey)) return true;
    return false;
  }
}

export interface GarbageCollectionResult {
  blobs: number;
  layers: number;
  /** Keys (chain IDs) of the layers removed, each before the layer it stood on. */
  removedLayers: string[];
  /** Bytes of blobs freed plus the recorded content size of the layers removed. */
  bytes: number;
}

/** What the garbage collector reads and sweeps. */
export interface GarbageCollectorDeps {
  images: { leases: Pick<LeaseManager, 'has'> };
  imageStore: Pick<ImageStore, 'list'>;
  containerStore: Pick<ContainerStore, 'all'>;
  snapshotter: Pick<Snapshotter, 'has' | 'chain' | 'list' | 'layerSize' | 'remove'>;
  content: Pick<ContentStore, 'list' | 'delete'>;
}

/**
 * Mark and sweep: blobs and layers reachable from images, containers and leases stay; the
 * rest (also whatever a crash left unreferenced: half-loaded blobs, layers of an image whose
 * record was never written) is removed.
 */
export async function collectGarbage(engine: GarbageCollectorDeps): Promise<GarbageCollectionResult> {
  const leases = engine.images.leases;
  const { blobs: liveBlobs, layers: liveLayers } = await referencedByImages(engine.imageStore);
  for (const c of engine.containerStore.all()) {
    liveLayers.add(c.Id);
    for (const s of engine.snapshotter.has(c.Id) ? engine.snapshotter.chain(c.Id) : []) liveLayers.add(s.key);
  }
  // Whatever a live or leased layer stands on is live too.
  for (const s of engine.snapshotter.list()) {
    if (liveLayers.has(s.key) || leases.has(s.key) || s.kind !== 'committed')
      for (const p of engine.snapshotter.chain(s.key)) liveLayers.add(p.key);
  }
  const removedLayers: string[] = [];
  let bytes = 0;
  // Children before parents: repeat until nothing more can go.
  for (let removed = true; removed; ) {
    removed = false;
    for (const s of engine.snapshotter.list()) {
      if (liveLayers.has(s.key) || leases.has(s.key) || s.kind !== 'committed') continue;
      if (engine.snapshotter.list().some((o) => o.parent === s.key)) continue;
      bytes += engine.snapshotter.layerSize(s.key);
      await engine.snapshotter.remove(s.key);
      removedLayers.push(s.key);
      removed = true;
    }
  }
  let blobs = 0;
  for (const blob of await engine.content.list()) {
    if (liveBlobs.has(blob.digest) || leases.has(blob.digest)) continue;
    await engine.content.delete(blob.digest);
    blobs++;
    bytes += blob.size;
  }
  return { blobs, layers: removedLayers.length, removedLayers, bytes };
}

/** What images keep alive: their config and layer blobs, and the layers (chain IDs) they stack. */
export async function referencedByImages(
  store: Pick<ImageStore, 'list'>,
): Promise<{ blobs: Set<string>; layers: Set<string> }> {
  const blobs = new Set<string>();
  const layers = new Set<string>();
  for (const image of await store.list()) {
    blobs.add(image.record.id);
    for (const l of image.record.layers ?? []) blobs.add(l.digest);
    for (const d of image.config.rootfs.diff_ids) blobs.add(d);
    for (const key of chainIds(image.config.rootfs.diff_ids)) layers.add(key);
  }
  return { blobs, layers };
}
