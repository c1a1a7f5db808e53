import { createReadStream } from 'node:fs';
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

/** Content is moved from the spool in pieces of up to this size. */
const CHUNK = 1 << 20;
/** Files of one directory written at once (the syscalls of each run on libuv's thread pool). */
const FILES_IN_FLIGHT = 8;

interface SpoolCopy {
  root: string;
  fh: FileHandle;
  spoolPath: string;
  owner: Ownership;
  mode: number | undefined;
  exclude: ((relPath: string) => boolean) | undefined;
  /** The first name written for each inode of the context: later names become hard links to it. */
  links: Map<IndexedInode, { path: string; ready: Promise<void> }>;
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
  let host: string | undefined;
  const makeSelf = async () => {
    if (made) return;
    made = true;
    host = await mkdirInRoot(copy.root, dest, copy.owner);
    // The copied directory itself is not copied, only its contents.
    if (rel === '') return;
    await chmod(host, copy.mode ?? entry.perm);
    await lchown(host, copy.owner.uid, copy.owner.gid);
  };
  if (create) await makeSelf();
  const files: Array<{ child: IndexedEntry; dest: string }> = [];
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
    files.push({ child, dest: childDest });
  }
  if (files.length > 0) {
    // Resolved once for all its files: the copy makes no symlink that could stand in its way.
    const parent = host ?? (await resolveInRoot(copy.root, dest));
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const file = files[next++]!;
        await copyEntry(copy, file.child, file.dest, parent);
      }
    };
    await Promise.all(Array.from({ length: Math.min(FILES_IN_FLIGHT, files.length) }, worker));
  }
  if (made && rel !== '') {
    await utimes(host ?? (await resolveInRoot(copy.root, dest)), entry.mtime, entry.mtime);
  }
  return made;
}

/**
 * Makes a new directory entry with `make`; a non-directory already there (from the parent
 * image) is replaced, a directory is an error, as copyIntoRoot does.
 */
async function replacing<T>(target: string, dest: string, make: () => Promise<T>): Promise<T> {
  try {
    return await make();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((await lstat(target)).isDirectory()) {
    throw invalidParameter(`cannot copy to non-directory: ${dest} is a directory`);
  }
  await rm(target, { force: true });
  return make();
}

/** One file or symlink to `dest` inside the root; `parent` is its parent's host path, if known. */
async function copyEntry(copy: SpoolCopy, entry: IndexedEntry, dest: string, parent?: string): Promise<void> {
  const dir = parent ?? (await resolveInRoot(copy.root, posix.dirname(dest)));
  const target = join(dir, posix.basename(dest));
  const inode = entry.inode;
  if (inode && inode.nlink > 1) {
    const first = copy.links.get(inode);
    if (first !== undefined) {
      // Owner, mode and times are the inode's: set through its first name.
      await first.ready;
      await replacing(target, dest, () => link(first.path, target));
      return;
    }
    const written = writeEntry(copy, entry, dest, target);
    // Later names wait for the first to be written (or to fail: the step fails with it).
    copy.links.set(inode, { path: target, ready: written.catch(() => undefined) });
    await written;
    return;
  }
  await writeEntry(copy, entry, dest, target);
}

async function writeEntry(copy: SpoolCopy, entry: IndexedEntry, dest: string, target: string): Promise<void> {
  const { uid, gid } = copy.owner;
  if (entry.type === 'symlink') {
    await replacing(target, dest, () => symlink(entry.target ?? '', target));
    await lchown(target, uid, gid);
    await lutimes(target, entry.mtime, entry.mtime);
    return;
  }
  const out = await replacing(target, dest, () => open(target, 'wx', 0o600));
  try {
    await writeContent(copy, entry, out);
    await out.chown(uid, gid);
    // After chown: chown clears set-id bits.
    await out.chmod(copy.mode ?? entry.perm);
    await out.utimes(entry.mtime, entry.mtime);
  } finally {
    await out.close();
  }
}

/** A file's content from its place in the spool to `out` (a new, empty file). */
async function writeContent(copy: SpoolCopy, entry: IndexedEntry, out: FileHandle): Promise<void> {
  const size = entry.size ?? 0;
  const offset = entry.offset ?? 0;
  const buf = Buffer.allocUnsafe(Math.min(size, CHUNK));
  let done = 0;
  while (done < size) {
    const want = Math.min(buf.length, size - done);
    const { bytesRead } = await copy.fh.read(buf, 0, want, offset + done);
    if (bytesRead === 0) throw invalidParameter('the build context ended early');
    await out.write(buf, 0, bytesRead);
    done += bytesRead;
  }
}
