import {
  type Stats,
  chmodSync,
  closeSync,
  createWriteStream,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, readlink, symlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';

/**
 * The per-entry system calls of the careful extractor (safe-archive.ts), made one of two ways:
 *
 * - `pooled`: through libuv's thread pool, for any target (a volume may sit on a slow or
 *   remote filesystem, which must not stall the daemon).
 * - `direct`: on the calling thread, for a layer unpacked into the daemon's own storage. There
 *   each call takes microseconds, while in the thread pool it queues behind the writes and
 *   inflates of the layers unpacked beside it: in a pull, a 400-entry layer took 1.2 s next to
 *   two 29 MB layers (four round trips per entry), and every layer's commit waited for it.
 */
export interface EntryCalls {
  lstat(path: string): Promise<Stats | undefined>;
  mkdir(path: string, mode?: number): Promise<void>;
  readlink(path: string): Promise<string>;
  symlink(target: string, path: string): Promise<void>;
  link(existing: string, path: string): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  lutimes(path: string, atime: Date, mtime: Date): Promise<void>;
  /** Writes a regular file of `size` bytes (created with `mode`) from its entry's body stream. */
  writeFile(path: string, mode: number, size: number, body: AsyncIterable<Buffer>): Promise<void>;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export const pooledCalls: EntryCalls = {
  lstat: (path) => lstat(path).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err))),
  mkdir: async (path, mode) => {
    await mkdir(path, { mode: mode ?? 0o777 });
  },
  readlink: (path) => readlink(path),
  symlink: (target, path) => symlink(target, path),
  link: (existing, path) => link(existing, path),
  lchown: (path, uid, gid) => lchown(path, uid, gid),
  chmod: (path, mode) => chmod(path, mode),
  lutimes: (path, atime, mtime) => lutimes(path, atime, mtime),
  writeFile: (path, mode, _size, body) =>
    pipeline(body as Readable, createWriteStream(path, { mode, highWaterMark: 1 << 20 })),
};

/** Files up to this size are written by `directCalls` on the calling thread. */
const DIRECT_WRITE_MAX = 1 << 20;

/** `async` so that a failing call rejects, as its pooled twin does, rather than throws. */
export const directCalls: EntryCalls = {
  lstat: async (path) => lstatSync(path, { throwIfNoEntry: false }),
  mkdir: async (path, mode) => {
    mkdirSync(path, { mode: mode ?? 0o777 });
  },
  readlink: async (path) => readlinkSync(path),
  symlink: async (target, path) => symlinkSync(target, path),
  link: async (existing, path) => linkSync(existing, path),
  lchown: async (path, uid, gid) => lchownSync(path, uid, gid),
  chmod: async (path, mode) => chmodSync(path, mode),
  lutimes: async (path, atime, mtime) => lutimesSync(path, atime, mtime),
  writeFile: async (path, mode, size, body) => {
    // A big body is written from the pool still: a write into a full page cache can wait for
    // the disk, and this thread serves every other request meanwhile.
    if (size > DIRECT_WRITE_MAX) return pooledCalls.writeFile(path, mode, size, body);
    const fd = openSync(path, 'w', mode);
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
      }
    } finally {
      closeSync(fd);
    }
  },
};

/** A device node (Node has no mknod call). */
export async function mknod(
  path: string,
  type: 'c' | 'b',
  major: number,
  minor: number,
  mode: number,
): Promise<void> {
  await execa('mknod', ['-m', mode.toString(8), '--', path, type, String(major), String(minor)]);
}

/** Node has no xattr call: hand all of an archive's attributes to one `setfattr --restore`. */
export async function restoreXattrs(
  xattrs: Array<{ path: string; name: string; value: Buffer }>,
): Promise<void> {
  if (xattrs.length === 0) return;
  const lines: string[] = [];
  for (const { path, name, value } of xattrs) {
    lines.push(`# file: ${escapeAttrPath(path)}`, `${name}=0x${value.toString('hex')}`, '');
  }
  await execa('setfattr', ['-h', '--restore=-'], { input: lines.join('\n') });
}

function escapeAttrPath(path: string): string {
  return path.replace(/[\\\n\r\0-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}
