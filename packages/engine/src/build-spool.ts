import { createReadStream, createWriteStream } from 'node:fs';
import {
  type FileHandle,
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  open,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContextSpool, IndexedEntry, IndexedInode } from '@ts-container/builder';
import { type CopyOptions, type Ownership, isArchiveHead, mkdirInRoot, resolveInRoot } from './build-fs.js';
import { invalidParameter } from './errors.js';

/**
 * COPY/ADD of build-context entries read straight from the spooled context tar into an image
 * root: each file's content is copied from its offset in the spool, so the context's files are
 * written once, into the layer. The result is what unpacking the context (extractArchive) and
 * copying the tree with copyIntoRoot (build-fs.ts) make: the same modes, owners, times and hard
 * links. Destination paths are resolved inside the root like every other COPY.
 */

/** Files up to this size are read with one positional read and written with one write. */
const SMALL_FILE = 1 << 20;

interface SpoolCopy {
  root: string;
  fh: FileHandle;
  spoolPath: string;
  owner: Ownership;
  mode: number | undefined;
  exclude: ((relPath: string) => boolean) | undefined;
  /** The first name written for each inode of the context: later names become hard links. */
  links: Map<IndexedInode, string>;
}

/**
 * Copies context entry `path` (a directory's contents, or a file or symlink itself) to `dest`
 * inside `root`, like copyIntoRoot does for a directory on the host.
 */
export async function copyFromSpool(
  root: string,
  spool: ContextSpool,
  path: string,
  dest: string,
  options: CopyOptions & { owner: Ownership },
): Promise<void> {
  const entry = spool.entry(path);
  if (entry === undefined) throw invalidParameter(`stat ${path}: file does not exist`);
  const fh = await open(spool.path, 'r');
  try {
    const copy: SpoolCopy = {
      root,
      fh,
      spoolPath: spool.path,
      owner: options.owner,
      mode: options.mode,
      exclude: options.exclude,
      links: new Map(),
    };
    if (entry.type === 'directory') {
      await copyDirectory(copy, spool, path, entry, dest, '', true);
      return;
    }
    await mkdirInRoot(root, posix.dirname(dest), options.owner);
    await copyEntry(copy, entry, dest);
  } finally {
    await fh.close();
  }
}

/** Whether a context file is a tar archive ADD unpacks (plain, gzip, bzip2 or xz). */
export async function spoolFileIsArchive(spool: ContextSpool, path: string): Promise<boolean> {
  const entry = spool.entry(path);
  if (entry?.type !== 'file') return false;
  const fh = await open(spool.path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(512, entry.size ?? 0));
    const { bytesRead } = await fh.read(buf, 0, buf.length, entry.offset ?? 0);
    return isArchiveHead(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** A context file's content, streamed from the spool. */
export function spoolFileStream(spool: ContextSpool, path: string): Readable {
  const entry = spool.entry(path);
  if (entry?.type !== 'file') throw invalidParameter(`${path} is not a file`);
  const start = entry.offset ?? 0;
  const size = entry.size ?? 0;
  // createReadStream's `end` is inclusive; an empty file reads nothing.
  return createReadStream(spool.path, { start, end: size === 0 ? start - 1 : start + size - 1 });
}

/** The entries of context directory `path` below `dest` (see build-fs.ts's copyDirectory). */
async function copyDirectory(
  copy: SpoolCopy,
  spool: ContextSpool,
  path: string,
  entry: IndexedEntry,
  dest: string,
  rel: string,
  create: boolean,
): Promise<boolean> {
  let made = false;
  const makeSelf = async () => {
    if (made) return;
    made = true;
    const host = await mkdirInRoot(copy.root, dest, copy.owner);
    // The copied directory itself is not copied, only its contents.
    if (rel === '') return;
    await chmod(host, copy.mode ?? entry.perm);
    await lchown(host, copy.owner.uid, copy.owner.gid);
  };
  if (create) await makeSelf();
  for (const name of entry.children ?? []) {
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const childPath = path === '.' ? name : `${path}/${name}`;
    const child = spool.entry(childPath);
    if (child === undefined) continue;
    const childDest = posix.join(dest, name);
    const excluded = copy.exclude?.(childRel) ?? false;
    if (child.type === 'directory') {
      if (!made && !excluded) await makeSelf();
      const copied = await copyDirectory(copy, spool, childPath, child, childDest, childRel, !excluded);
      if (copied && !made) made = true;
      continue;
    }
    if (excluded) continue;
    await makeSelf();
    await copyEntry(copy, child, childDest);
  }
  if (made && rel !== '') {
    const host = await resolveInRoot(copy.root, dest);
    await utimes(host, entry.mtime, entry.mtime);
  }
  return made;
}

/** One file or symlink to `dest` inside the root (its parent exists). */
async function copyEntry(copy: SpoolCopy, entry: IndexedEntry, dest: string): Promise<void> {
  const parent = await resolveInRoot(copy.root, posix.dirname(dest));
  const target = join(parent, posix.basename(dest));
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw invalidParameter(`cannot copy to non-directory: ${dest} is a directory`);
  }
  if (existing) await rm(target, { force: true });
  const inode = entry.inode;
  const first = inode && inode.nlink > 1 ? copy.links.get(inode) : undefined;
  if (first !== undefined) {
    // Owner, mode and times are the inode's: already set through its first name.
    await link(first, target);
    return;
  }
  if (inode && inode.nlink > 1) copy.links.set(inode, target);
  if (entry.type === 'symlink') {
    await symlink(entry.target ?? '', target);
    await lchown(target, copy.owner.uid, copy.owner.gid);
    await lutimes(target, entry.mtime, entry.mtime);
    return;
  }
  await writeContent(copy, entry, target);
  await lchown(target, copy.owner.uid, copy.owner.gid);
  // After chown: chown clears set-id bits.
  await chmod(target, copy.mode ?? entry.perm);
  await utimes(target, entry.mtime, entry.mtime);
}

/** A file's content from its place in the spool to `target` (a new file). */
async function writeContent(copy: SpoolCopy, entry: IndexedEntry, target: string): Promise<void> {
  const size = entry.size ?? 0;
  const offset = entry.offset ?? 0;
  if (size <= SMALL_FILE) {
    const buf = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await copy.fh.read(buf, done, size - done, offset + done);
      if (bytesRead === 0) throw invalidParameter('the build context ended early');
      done += bytesRead;
    }
    const out = await open(target, 'wx', 0o600);
    try {
      await out.writeFile(buf);
    } finally {
      await out.close();
    }
    return;
  }
  await pipeline(
    createReadStream(copy.spoolPath, { start: offset, end: offset + size - 1, highWaterMark: 1 << 20 }),
    createWriteStream(target, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }),
  );
}
