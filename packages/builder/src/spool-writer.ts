import type { FileHandle } from 'node:fs/promises';

/**
 * The writer of a build context's spool file (see context-index.ts): the pieces of the upload
 * are written as they came, without copies, in batches of about {@link WRITE_BATCH} bytes.
 */

/** Incoming pieces are written to the spool in batches of about this size (one writev each). */
const WRITE_BATCH = 1 << 20;

/** A run of the spool written by one writev. */
interface Batch {
  buffers: Buffer[];
  at: number;
}

/**
 * Writes the spool: pieces gathered into batches, one batch written while the next gathers. A
 * batch of zeros only (a sparse or preallocated file, as `cp --sparse` finds them) is not
 * written but left as a hole, which reads back as the same zeros. Holes are whole batches, so
 * the spool is a few large extents, quick to write back and to remove.
 */
export class SpoolWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private position = 0;
  private holes = false;
  private inflight: Promise<void> | undefined;

  constructor(private readonly file: FileHandle) {}

  /** Queues a piece (held, not copied); a promise to wait for when a batch is due. */
  write(chunk: Buffer): Promise<void> | undefined {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < WRITE_BATCH) return undefined;
    const batch = this.cut()!;
    if (batch.buffers.every(isZeros)) {
      this.holes = true;
      return undefined;
    }
    return this.submit(batch);
  }

  /** Writes what is queued and waits for every write; the file then has its full length. */
  async flush(): Promise<void> {
    const last = this.cut();
    if (last !== undefined) await this.submit(last);
    await this.inflight;
    if (this.holes) await this.file.truncate(this.position);
  }

  /** Waits for the write in flight, if any, whatever its outcome (before the file is closed). */
  async settle(): Promise<void> {
    await this.inflight?.catch(() => undefined);
  }

  /** The queued pieces as a batch at their place in the file. */
  private cut(): Batch | undefined {
    if (this.pendingBytes === 0) return undefined;
    const batch = { buffers: this.pending, at: this.position };
    this.position += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    return batch;
  }

  private async submit(batch: Batch): Promise<void> {
    // One write at a time: the previous batch's failure surfaces here.
    await this.inflight;
    const write = writeAll(this.file, batch.buffers, batch.at);
    // Awaited by the next batch, flush or settle; marked handled until then.
    write.catch(() => undefined);
    this.inflight = write;
  }
}

const ZEROS = Buffer.alloc(64 * 1024);

/** Whether a piece is all zeros (a memcmp: data that is not stops at its first bytes). */
function isZeros(chunk: Buffer): boolean {
  for (let off = 0; off < chunk.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, chunk.length - off);
    if (ZEROS.compare(chunk, off, off + n, 0, n) !== 0) return false;
  }
  return true;
}

async function writeAll(file: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  for (;;) {
    const { bytesWritten } = await file.writev(rest, at);
    at += bytesWritten;
    let left = bytesWritten;
    let i = 0;
    while (i < rest.length && left >= rest[i]!.length) left -= rest[i++]!.length;
    if (i === rest.length) return;
    if (bytesWritten === 0) throw new Error(`short write to the build context spool at byte ${at}`);
    rest = [rest[i]!.subarray(left), ...rest.slice(i + 1)];
  }
}
