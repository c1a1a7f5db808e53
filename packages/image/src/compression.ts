import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip, deflateRaw, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const deflateRawAsync = promisify(deflateRaw);

/** The sample of a block that decides whether deflating it is worth the CPU. */
const SAMPLE = 64 * 1024;

/**
 * Whether a block looks incompressible (random bytes, already-compressed files): its first
 * 64 KiB shrink by less than 3% at level 1. Such a block is stored (level 0) rather than
 * deflated: the output is as large either way and deflating it costs ten times the time.
 * The decision depends on the bytes alone, so equal layers still compress to equal blobs.
 */
async function incompressible(block: Buffer): Promise<boolean> {
  if (block.length < SAMPLE) return false;
  const sample = await deflateRawAsync(block.subarray(0, SAMPLE), { level: 1 });
  return sample.length > SAMPLE * 0.97;
}

/** Bytes of input per gzip member when compressing in parallel (pigz uses 128 KiB; fewer, larger members cost less). */
const GZIP_BLOCK = 4 * 1024 * 1024;

export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  // Docker's DecompressStream also takes bzip2 and xz (`docker import`, ADD of an archive).
  if (head.length >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length >= 4 && head.readUInt32BE(0) === 0xfd377a58) return 'xz';
  return 'none';
}

/** Returns an uncompressed view of a possibly gzip-compressed tar stream. */
export async function decompressStream(source: Readable): Promise<Readable> {
  const head = await peek(source, 4);
  const kind = detectCompression(head.data);
  const body = head.rest;
  if (kind === 'gzip') {
    // Large output chunks: zlib's 16 KiB default means four times the work downstream.
    const gunzip = createGunzip({ chunkSize: 128 * 1024 });
    // Unlike `pipe`, `pipeline` hands a failed or cut-off source on to gunzip, so whoever
    // reads gunzip sees the error; there is nothing more to do with it here.
    pipeline(body, gunzip, () => undefined);
    return gunzip;
  }
  if (kind === 'zstd' || kind === 'bzip2' || kind === 'xz') {
    const { execa } = await import('execa');
    const proc = execa(kind, ['-d', '-c'], { input: body, stdout: 'pipe', buffer: false });
    const out = new PassThrough();
    // The tool's failure (a corrupt stream) reaches the reader as a stream error, not a crash.
    pipeline(proc.stdout as Readable, out, () => undefined);
    proc.then(
      () => undefined,
      (err: unknown) =>
        out.destroy(Object.assign(new Error('unexpected EOF'), { code: 'Z_DATA_ERROR', cause: err })),
    );
    return out;
  }
  return body;
}

/** Reads the first `n` bytes and returns a stream that still yields them. */
async function peek(source: Readable, n: number): Promise<{ data: Buffer; rest: Readable }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const iterator = source[Symbol.asyncIterator]();
  while (size < n) {
    const r = await iterator.next();
    if (r.done) break;
    const buf = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    chunks.push(buf);
    size += buf.length;
  }
  const data = Buffer.concat(chunks);
  const rest = new PassThrough();
  rest.write(data);
  (async () => {
    try {
      for (;;) {
        const r = await iterator.next();
        if (r.done) break;
        if (!rest.write(r.value)) await new Promise((res) => rest.once('drain', res));
      }
      rest.end();
    } catch (err) {
      rest.destroy(err as Error);
    }
  })();
  return { data, rest };
}

/**
 * Gzip of a file, compressed in blocks on several cores at once (pigz-style): each block is an
 * independent gzip member, and RFC 1952 readers (Go's gzip.Reader, Node's gunzip, GNU gzip)
 * read concatenated members as one stream. zlib runs in libuv's thread pool, so up to
 * `concurrency` blocks compress side by side while the members come out in order.
 */
export function gzipFileParallel(
  path: string,
  options: { concurrency?: number; blockSize?: number; level?: number } = {},
): Readable {
  const blockSize = options.blockSize ?? GZIP_BLOCK;
  const concurrency = Math.max(1, options.concurrency ?? availableParallelism());
  const level = options.level ?? 6;
  async function* members(): AsyncGenerator<Buffer> {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const inFlight: Promise<Buffer>[] = [];
      let offset = 0;
      const readNext = async () => {
        const length = Math.min(blockSize, size - offset);
        const block = Buffer.allocUnsafe(length);
        const at = offset;
        offset += length;
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(block, got, length - got, at + got);
          if (bytesRead === 0) throw new Error(`${path} shrank while being compressed`);
          got += bytesRead;
        }
        return gzipAsync(block, { level: (await incompressible(block)) ? 0 : level });
      };
      if (size === 0) {
        yield await gzipAsync(Buffer.alloc(0), { level });
        return;
      }
      while (offset < size || inFlight.length > 0) {
        while (offset < size && inFlight.length < concurrency) {
          const member = readNext();
          // A failure is seen when its turn comes; until then it must not count as unhandled.
          member.catch(() => undefined);
          inFlight.push(member);
        }
        yield await inFlight.shift()!;
      }
    } finally {
      await fh.close();
    }
  }
  return Readable.from(members(), { objectMode: false });
}
