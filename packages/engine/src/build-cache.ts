import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@ts-container/image';
import { z } from 'zod';
import type { BuildDeps } from './build-deps.js';

/**
 * The build cache index, `<data-root>/build-cache.json`: which image a step with a given cache
 * key produced on a given parent. Keys come from content (see the builder's stage.ts), so the
 * index is all a cached step needs.
 */

const CacheIndexSchema = z.object({
  version: z.literal(1),
  entries: z.array(z.object({ parent: z.string().nullable(), key: z.string(), image: z.string() })),
});
type CacheIndex = z.infer<typeof CacheIndexSchema>;

/** Cache keys of built images: which image a step with this key on this parent produced. */
export class BuildCache {
  private index: Map<string, string> | undefined;
  private loading: Promise<Map<string, string>> | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** The write queued behind the one under way: changes made meanwhile all go in it. */
  private queued: Promise<void> | undefined;

  constructor(readonly path: string) {}

  private static id(parent: string | null, key: string): string {
    return `${parent ?? 'scratch'}\0${key}`;
  }

  /** Read once: two first callers at once (steps whose writes overlap) share one read. */
  private load(): Promise<Map<string, string>> {
    this.loading ??= this.read();
    return this.loading;
  }

  private async read(): Promise<Map<string, string>> {
    const index = new Map<string, string>();
    const raw = await readFile(this.path, 'utf8').catch(() => undefined);
    if (raw !== undefined) {
      // A damaged index only costs cache hits: start afresh rather than fail builds.
      const parsed = CacheIndexSchema.safeParse(
        (() => {
          try {
            return JSON.parse(raw) as unknown;
          } catch {
            return undefined;
          }
        })(),
      );
      if (parsed.success)
        for (const e of parsed.data.entries) index.set(BuildCache.id(e.parent, e.key), e.image);
    }
    this.index = index;
    return index;
  }

  async get(parent: string | null, key: string): Promise<string | undefined> {
    return (await this.load()).get(BuildCache.id(parent, key));
  }

  async set(parent: string | null, key: string, image: string): Promise<void> {
    (await this.load()).set(BuildCache.id(parent, key), image);
    await this.save();
  }

  /** Drops entries whose image no longer exists (or all of them); returns how many went. */
  async prune(keep: (image: string) => boolean = () => false): Promise<number> {
    const index = await this.load();
    let removed = 0;
    for (const [id, image] of index) {
      if (keep(image)) continue;
      index.delete(id);
      removed++;
    }
    await this.save();
    return removed;
  }

  /** Writes the index once the write under way (if any) is done; one write for all changes made until then. */
  private save(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.writing.then(async () => {
      this.queued = undefined;
      const entries: CacheIndex['entries'] = [];
      for (const [id, image] of this.index ?? []) {
        const [parent = '', key = ''] = id.split('\0');
        entries.push({ parent: parent === 'scratch' ? null : parent, key, image });
      }
      await writeFileAtomic(this.path, JSON.stringify({ version: 1, entries } satisfies CacheIndex));
    });
    this.queued = next;
    this.writing = next.catch(() => undefined);
    return next;
  }
}

const caches = new WeakMap<BuildDeps, BuildCache>();

/** The engine's build cache index (one per engine, so concurrent builds share it). */
export function buildCacheOf(engine: BuildDeps): BuildCache {
  let cache = caches.get(engine);
  if (!cache) {
    cache = new BuildCache(join(engine.options.dataRoot, 'build-cache.json'));
    caches.set(engine, cache);
  }
  return cache;
}

/** `POST /build/prune`: forgets cache entries; with `all`, every entry, else those of gone images. */
export async function pruneBuildCache(engine: BuildDeps, options: { all?: boolean } = {}): Promise<number> {
  const cache = buildCacheOf(engine);
  return cache.prune(options.all ? () => false : (image) => engine.imageStore.has(image));
}
