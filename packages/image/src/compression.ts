import { PassThrough, type Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

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
