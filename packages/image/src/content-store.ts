import { createHash } from 'node:crypto';
import { type ReadStream, createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type BlobInfo, type Digest, digestHex, hashFile, isDigest, sha256Digest } from './digest.js';
import { DigestMismatchError, ImageError, archiveFailure, noSpaceError } from './errors.js';

import { UnsyncedBlobs } from './unsynced-blobs.js';

export { type BlobInfo, hashFile };

/**
 * Appends to a partial blob; `commit` verifies the digest and publishes it atomically. Writes
 * are gathered into large ones made in the background (a pull's 64 KiB network chunks would
 * otherwise cost one waited-for write each), so `write` resolves once the chunk is taken.
 */
export interface IngestWriter {
  /** Bytes already kept from an earlier attempt with the same ref (resume point). */
  readonly offset: number;
  write(chunk: Buffer): Promise<void>;
  /** The digest of every byte taken so far (the kept part of a resumed ingest included). */
  digest(): Digest;
  commit(expectedDigest: string, expectedSize?: number): Promise<BlobInfo>;
  /** Writes out what was taken and closes, keeping the partial blob for a later resume. */
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** Gathered bytes written at once; one write in flight while the next batch gathers. */
const INGEST_BATCH_BYTES = 1 << 20;

/**
 * Content-addressable blob store (containerd's content store): blobs live at
 * blobs/sha256/<hex> and only appear there, by rename, once their digest is verified,
 * so a crash mid-write never leaves a blob that claims a digest it does not have.
 */
export class ContentStore {
  readonly blobDir: string;
  readonly ingestDir: string;
  private readonly unsynced: UnsyncedBlobs;

  constructor(readonly root: string) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
    this.unsynced = new UnsyncedBlobs(join(root, 'unsynced'), (d) => this.path(d));
  }

  async init(): Promise<void> {
    await mkdir(this.blobDir, { recursive: true });
    await mkdir(this.ingestDir, { recursive: true });
  }

  path(digest: string): string {
    if (!isDigest(digest)) throw new ImageError('invalid-parameter', `invalid digest: ${digest}`);
    return join(this.blobDir, digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  async size(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Reads a small blob (manifest, config) whole and verifies it against its digest. */
  async read(digest: string): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.path(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ImageError('not-found', `content ${digest}: not found`);
      }
      throw err;
    }
    const actual = sha256Digest(data);
    if (actual !== digest) throw new DigestMismatchError(digest, actual);
    return data;
  }

  createReadStream(digest: string): ReadStream {
    // Blobs are big and read whole (save, push, unpack): 1 MiB reads, not 64 KiB ones.
    return createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
  }

  async put(data: Buffer | string): Promise<BlobInfo> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = sha256Digest(buf);
    if (await this.has(digest)) return { digest, size: buf.length };
    const w = await this.openIngest(`put-${digestHex(digest)}-${process.pid}-${Date.now()}`, {
      resume: false,
    });
    await w.write(buf);
    return w.commit(digest, buf.length);
  }

  /** Streams a blob in, computing its digest on the way; the digest is known only at the end. */
  async ingestStream(source: Readable, ref: string): Promise<BlobInfo> {
    const w = await this.openIngest(ref, { resume: false });
    try {
      for await (const chunk of source) await w.write(chunk as Buffer);
    } catch (err) {
      await w.abort();
      throw archiveFailure(err);
    }
    return w.commit(w.digest());
  }

  /**
   * `sync: 'later'`: `commit` publishes the blob without waiting for its fsync, which follows in
   * the background (see UnsyncedBlobs: after a crash such blobs are verified at start-up).
   */
  async openIngest(
    ref: string,
    options: { resume?: boolean; sync?: 'now' | 'later' } = {},
  ): Promise<IngestWriter> {
    const unsynced = options.sync === 'later' ? this.unsynced : undefined;
    const dir = join(this.ingestDir, encodeURIComponent(ref));
    await mkdir(dir, { recursive: true });
    const dataPath = join(dir, 'data');
    if (options.resume === false) await rm(dataPath, { force: true });
    const fh = await open(dataPath, 'a');
    const offset = (await fh.stat()).size;
    const blobPath = (d: string) => this.path(d);
    // The digest is computed as bytes arrive; a resumed ingest first hashes what it kept.
    const hash = createHash('sha256');
    if (offset > 0)
      for await (const chunk of createReadStream(dataPath, { end: offset - 1 })) hash.update(chunk as Buffer);
    let size = offset;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let writing: Promise<unknown> = Promise.resolve();
    let writeError: unknown;
    const startWrite = async () => {
      await writing;
      if (writeError !== undefined) throw writeError;
      if (batchBytes === 0) return;
      // One writev, not a concat: copying every byte once more costs more than the syscall.
      const data = batch;
      const bytes = batchBytes;
      batch = [];
      batchBytes = 0;
      // Failures surface at the next write, flush or commit.
      writing = fh.writev(data).then(
        ({ bytesWritten }) => {
          // A regular file takes fewer bytes than asked only when the disk is full.
          if (bytesWritten !== bytes) writeError = noSpaceError();
        },
        (err: unknown) => {
          writeError = archiveFailure(err);
        },
      );
    };
    const flush = async () => {
      await startWrite();
      await writing;
      if (writeError !== undefined) throw writeError;
    };
    let closed = false;
    const close = async () => {
      if (!closed) {
        closed = true;
        await writing;
        await fh.close();
      }
    };
    return {
      offset,
      write: async (chunk) => {
        hash.update(chunk);
        size += chunk.length;
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= INGEST_BATCH_BYTES) await startWrite();
      },
      digest: () => `sha256:${hash.copy().digest('hex')}` as Digest,
      commit: async (expectedDigest, expectedSize) => {
        try {
          await flush();
          if (unsynced === undefined) await fh.sync();
        } catch (err) {
          // A failed ingest is removed at once (a full disk gets its space back).
          await close();
          await rm(dir, { recursive: true, force: true });
          throw archiveFailure(err);
        } finally {
          await close();
        }
        const actual: BlobInfo = { digest: `sha256:${hash.digest('hex')}` as Digest, size };
        if (
          actual.digest !== expectedDigest ||
          (expectedSize !== undefined && actual.size !== expectedSize)
        ) {
          await rm(dir, { recursive: true, force: true });
          throw new DigestMismatchError(expectedDigest, actual.digest);
        }
        if (unsynced !== undefined) {
          // A blob stored (and synced) before is kept: an unsynced copy never replaces it.
          if (!(await this.has(expectedDigest))) {
            await unsynced.mark(actual.digest);
            await rename(dataPath, blobPath(expectedDigest));
            unsynced.published(actual.digest);
          }
        } else {
          await rename(dataPath, blobPath(expectedDigest));
        }
        await rm(dir, { recursive: true, force: true });
        return actual;
      },
      close: async () => {
        try {
          await flush();
        } finally {
          await close();
        }
      },
      abort: async () => {
        batch = [];
        batchBytes = 0;
        await close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
    await this.unsynced.forget(digest);
  }

  /** Syncs now the blobs published with `sync: 'later'` (a clean shutdown; tests). */
  flushUnsynced(): Promise<void> {
    return this.unsynced.flush();
  }

  /**
   * Start-up repair: blobs published with `sync: 'later'` whose sync a crash may have
   * prevented are checked against their digests; those that fail are removed and returned.
   */
  verifyUnsynced(): Promise<Digest[]> {
    return this.unsynced.verify();
  }

  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const name of await readdir(this.blobDir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      out.push({ digest, size: (await stat(join(this.blobDir, name))).size });
    }
    return out;
  }

  /** Removes partial ingests (left by a crash or an abandoned pull) older than `maxAgeMs`. */
  async pruneIngests(maxAgeMs = 0): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await readdir(this.ingestDir)) {
      const dir = join(this.ingestDir, name);
      const st = await stat(dir);
      if (now - st.mtimeMs >= maxAgeMs) {
        await rm(dir, { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }
}
