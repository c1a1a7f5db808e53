import { mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Digest, hashFile, isDigest } from './digest.js';

/** How long a published, not yet synced blob waits for company before the batch is synced. */
const SYNC_DELAY_MS = 5_000;

/**
 * Blobs published before their bytes reached the disk (a `docker load` or `pull` does not wait
 * for the fsync of every layer: Docker and Podman do not sync layer data at all). Each one gets a
 * marker file, made before the blob is renamed into place; a background pass syncs the
 * blobs a few seconds later and then drops their markers. After a crash the markers left name
 * exactly the blobs that may hold torn or missing bytes: {@link verify} checks each against its
 * digest at start-up and removes those that fail, so the store never serves a blob whose bytes
 * differ from its name.
 */
export class UnsyncedBlobs {
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private dirReady: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly blobPath: (digest: string) => string,
  ) {}

  /**
   * Records `digest` as unsynced; call before publishing the blob. The marker's directory entry
   * is synced before this returns: without a journal that orders metadata, a rename made after
   * it could otherwise reach the disk first, and a torn blob would outlive a crash unmarked.
   */
  async mark(digest: Digest): Promise<void> {
    this.dirReady ??= mkdir(this.dir, { recursive: true }).then(() => undefined);
    await this.dirReady;
    await writeFile(this.markerPath(digest), '');
    await syncFile(this.dir);
  }

  /** The blob is published: sync it with the next batch. */
  published(digest: Digest): void {
    this.pending.add(digest);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, SYNC_DELAY_MS).unref();
  }

  /** The blob was deleted: nothing left to sync. */
  async forget(digest: string): Promise<void> {
    if (!isDigest(digest)) return;
    this.pending.delete(digest);
    await rm(this.markerPath(digest), { force: true });
  }

  /**
   * Syncs every pending blob now, then drops its marker. A blob that cannot be synced keeps
   * its marker: start-up verifies it.
   */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = [...this.pending];
    this.pending.clear();
    this.syncing = this.syncing.then(async () => {
      for (const digest of batch) {
        // A failed sync (an I/O error) keeps the marker: start-up verifies the blob.
        const synced = await syncFile(this.blobPath(digest)).catch(() => false);
        if (synced) await this.forget(digest).catch(() => undefined);
      }
    });
    return this.syncing;
  }

  /**
   * Start-up check after a crash: each blob still marked is hashed, and removed unless its
   * bytes match its digest. Returns the digests removed.
   */
  async verify(): Promise<Digest[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const removed: Digest[] = [];
    for (const name of names) {
      const digest = `sha256:${name}`;
      if (isDigest(digest)) {
        const path = this.blobPath(digest);
        const actual = await hashFile(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        });
        if (actual !== undefined && actual.digest !== digest) {
          await rm(path, { force: true });
          removed.push(digest);
        } else if (actual !== undefined) {
          await syncFile(path);
        }
      }
      await rm(join(this.dir, name), { force: true });
    }
    return removed;
  }

  private markerPath(digest: string): string {
    return join(this.dir, digest.slice('sha256:'.length));
  }
}

/** fsync of a file or directory by path; false when it is gone (deleted meanwhile). */
async function syncFile(path: string): Promise<boolean> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    await fh.sync();
    return true;
  } finally {
    await fh.close();
  }
}
