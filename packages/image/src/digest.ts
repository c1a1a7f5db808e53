import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';

/** OCI image-spec "digest": algorithm ":" encoded. Only sha256 is produced here. */
export const DigestSchema = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'invalid digest');
export type Digest = z.infer<typeof DigestSchema>;

export function isDigest(value: string): boolean {
  return DigestSchema.safeParse(value).success;
}

export function sha256Digest(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function digestHex(digest: string): string {
  const i = digest.indexOf(':');
  return i < 0 ? digest : digest.slice(i + 1);
}

/** A layer's chain ID (image-spec config.md): ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const prev = out.at(-1);
    out.push(prev === undefined ? (diffId as Digest) : sha256Digest(`${prev} ${diffId}`));
  }
  return out;
}

export function shortId(id: string): string {
  return digestHex(id).slice(0, 12);
}

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/**
 * Hands a file's bytes to `take` in 1 MiB chunks read into one buffer, again and again (a
 * buffer per chunk would make garbage as big as the file, and the collections it brings): a
 * chunk is valid only during its call.
 */
export async function forEachChunk(path: string, take: (chunk: Buffer) => void): Promise<void> {
  const buf = Buffer.allocUnsafe(1 << 20);
  const file = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      take(buf.subarray(0, bytesRead));
    }
  } finally {
    await file.close();
  }
}

/** The digest and size of a file's bytes. */
export async function hashFile(path: string): Promise<BlobInfo> {
  const hash = createHash('sha256');
  let size = 0;
  await forEachChunk(path, (chunk) => {
    hash.update(chunk);
    size += chunk.length;
  });
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * The code of a worker that hashes a file (`workerData`) as {@link hashFile} does, kept as
 * text: the package is bundled into the daemon and the CLI, where a worker file would not be.
 */
const HASH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { closeSync, openSync, readSync } = require('node:fs');
const hash = createHash('sha256');
const buf = Buffer.allocUnsafe(1 << 20);
let size = 0;
const fd = openSync(workerData, 'r');
try {
  for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; size += n) hash.update(buf.subarray(0, n));
} finally {
  closeSync(fd);
}
parentPort.postMessage({ digest: 'sha256:' + hash.digest('hex'), size });
`;

/**
 * {@link hashFile} on a worker thread: the digest of a big file made beside work on this
 * thread (on another core), which it neither delays nor waits for. `signal` stops it.
 */
export function hashFileAside(path: string, signal?: AbortSignal): Promise<BlobInfo> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(HASH_WORKER, { eval: true, workerData: path });
    const stop = () => void worker.terminate();
    signal?.addEventListener('abort', stop, { once: true });
    let result: BlobInfo | undefined;
    worker.once('message', (m: BlobInfo) => {
      result = m;
    });
    worker.once('error', reject);
    worker.once('exit', () => {
      signal?.removeEventListener('abort', stop);
      if (result !== undefined) resolve(result);
      else reject(signal?.aborted ? signal.reason : new Error(`hashing ${path} stopped`));
    });
  });
}
