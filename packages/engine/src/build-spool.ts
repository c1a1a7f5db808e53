import {
  chmodSync,
  closeSync,
  createReadStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { ContextSpool, IndexedEntry, IndexedInode } from '@ts-container/builder';
import { type CopyOptions, type Ownership, isArchiveHead, mkdirInRoot, resolveInRoot } from './build-fs.js';
import { SMALL_FILE, type SmallFileJob, smallFileWriters } from './build-spool-writers.js';
import { invalidParameter } from './errors.js';

/**
 * COPY/ADD of build-context entries read straight from the spooled context tar into an image
 * root: each file's content is copied from its offset in the spool, so the context's files are
 * written once, into the layer. The result is what unpacking the context (extractArchive) and
 * copying the tree with copyIntoRoot (build-fs.ts) make: the same modes, owners, times and hard
 * links. Destination paths are resolved inside the root like every other COPY.
 */

/** A large file's content is moved from the spool in pieces of up to this size. */
const CHUNK = 1 << 20;
/** Entries written synchronously between two turns of the event loop. */
const SYNC_BATCH = 96;
/** Small files in one directory from which the writer threads take them. */
const POOL_MIN_FILES = 32;

interface SpoolCopy {
  root: string;
  fh: FileHandle;
  owner: Ownership;
  mode: number | undefined;
  exclude: ((relPath: string) => boolean) | undefined;
  /** The name written first for each inode of the context: later names become hard links to it. */
  links: Map<IndexedInode, string>;
  /** A small file's content on its way from the spool. */
  small: Buffer;
  /** Entries written synchronously since the event loop last had a turn. */
  sinceYield: number;
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
  const fh = await open(await spool.ready(), 'r');
  try {
    const copy: SpoolCopy = {
      root,
      fh,
      owner: options.owner,
      mode: options.mode,
      exclude: options.exclude,
      links: new Map(),
      small: Buffer.allocUnsafe(SMALL_FILE),
      sinceYield: 0,
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
  const fh = await open(await spool.ready(), 'r');
  try {
    const buf = Buffer.alloc(Math.min(512, entry.size ?? 0));
    const { bytesRead } = await fh.read(buf, 0, buf.length, entry.offset ?? 0);
    return isArchiveHead(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** A context file's content, streamed from the spool. */
export async function spoolFileStream(spool: ContextSpool, path: string): Promise<Readable> {
  const entry = spool.entry(path);
  if (entry?.type !== 'file') throw invalidParameter(`${path} is not a file`);
  const file = await spool.ready();
  const start = entry.offset ?? 0;
  const size = entry.size ?? 0;
  // createReadStream's `end` is inclusive; an empty file reads nothing.
  return createReadStream(file, { start, end: size === 0 ? start - 1 : start + size - 1 });
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
  parentHost?: string,
): Promise<boolean> {
  let made = false;
  let host: string | undefined;
  const makeSelf = async () => {
    if (made) return;
    made = true;
    // The copied directory itself is not copied, only its contents.
    if (rel === '') host = await mkdirInRoot(copy.root, dest, copy.owner);
    else host = await makeChildDirectory(copy, parentHost, dest, copy.mode ?? entry.perm);
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
      const copied = await copyDirectory(copy, spool, childPath, child, childDest, childRel, !excluded, host);
      if (copied && !made) made = true;
      continue;
    }
    if (excluded) continue;
    await makeSelf();
    files.push({ child, dest: childDest });
  }
  if (files.length > 0) {
    // Resolved once for all its files: the copy makes no symlink that could stand in its way.
    const dir = host ?? (await resolveInRoot(copy.root, dest));
    const rest = await writeSmallFiles(copy, files, dir);
    for (const file of rest) await copyEntry(copy, file.child, file.dest, dir);
  }
  if (made && rel !== '') {
    utimesSync(host ?? (await resolveInRoot(copy.root, dest)), entry.mtime, entry.mtime);
  }
  return made;
}

/**
 * The small new files of one directory, written by the worker threads when there are enough of
 * them to be worth the round trip; returns the entries left to write here (symlinks, large
 * files, later names of an inode), in their order.
 */
async function writeSmallFiles(
  copy: SpoolCopy,
  files: Array<{ child: IndexedEntry; dest: string }>,
  dir: string,
): Promise<Array<{ child: IndexedEntry; dest: string }>> {
  const isSmall = (e: IndexedEntry) =>
    e.type === 'file' && (e.size ?? 0) <= SMALL_FILE && (e.inode === undefined || !copy.links.has(e.inode));
  const small = files.filter((f) => isSmall(f.child));
  const writers = small.length >= POOL_MIN_FILES ? smallFileWriters() : undefined;
  if (writers === undefined) return files;
  const jobs: SmallFileJob[] = [];
  const seen = new Set<IndexedInode>();
  const rest: Array<{ child: IndexedEntry; dest: string }> = [];
  for (const file of files) {
    const { child } = file;
    // A second name of an inode in the same directory links to the first once it is written.
    if (!isSmall(child) || (child.inode !== undefined && seen.has(child.inode))) {
      rest.push(file);
      continue;
    }
    if (child.inode !== undefined) seen.add(child.inode);
    jobs.push({
      target: join(dir, posix.basename(file.dest)),
      dest: file.dest,
      offset: child.offset ?? 0,
      size: child.size ?? 0,
      mode: copy.mode ?? child.perm,
      uid: copy.owner.uid,
      gid: copy.owner.gid,
      mtime: child.mtime.getTime() / 1000,
    });
  }
  await writers.write(copy.fh.fd, jobs);
  for (const file of files) {
    const inode = file.child.inode;
    if (inode && inode.nlink > 1 && seen.has(inode) && !copy.links.has(inode))
      copy.links.set(inode, join(dir, posix.basename(file.dest)));
  }
  return rest;
}

/**
 * A copied directory below one this copy has resolved (`parentHost`, no symlink left in it):
 * made there at once when nothing is in the way, as mkdirInRoot would make it; anything already
 * there from the parent image (a symlink, a file) goes through mkdirInRoot's general rules.
 */
async function makeChildDirectory(
  copy: SpoolCopy,
  parentHost: string | undefined,
  dest: string,
  mode: number,
): Promise<string> {
  const { uid, gid } = copy.owner;
  const host = parentHost === undefined ? undefined : join(parentHost, posix.basename(dest));
  const existing = host === undefined ? undefined : lstatSync(host, { throwIfNoEntry: false });
  if (host === undefined || (existing !== undefined && !existing.isDirectory())) {
    const made = await mkdirInRoot(copy.root, dest, copy.owner);
    chmodSync(made, mode);
    lchownSync(made, uid, gid);
    return made;
  }
  if (existing === undefined) mkdirSync(host, { mode: 0o700 });
  chmodSync(host, mode);
  lchownSync(host, uid, gid);
  return host;
}

/**
 * Gives the event loop a turn every {@link SYNC_BATCH} entries written synchronously, so that
 * other clients are answered during a large COPY.
 */
async function pace(copy: SpoolCopy): Promise<void> {
  if (++copy.sinceYield < SYNC_BATCH) return;
  copy.sinceYield = 0;
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One file or symlink to `dest` inside the root; `parent` is its parent's host path, if known. */
async function copyEntry(copy: SpoolCopy, entry: IndexedEntry, dest: string, parent?: string): Promise<void> {
  const dir = parent ?? (await resolveInRoot(copy.root, posix.dirname(dest)));
  const target = join(dir, posix.basename(dest));
  const inode = entry.inode;
  const first = inode && inode.nlink > 1 ? copy.links.get(inode) : undefined;
  if (first !== undefined) {
    // Owner, mode and times are the inode's: set through its first name.
    replacingSync(target, dest, () => linkSync(first, target));
    await pace(copy);
    return;
  }
  if (entry.type === 'symlink' || (entry.size ?? 0) <= SMALL_FILE) {
    writeEntrySync(copy, entry, dest, target);
    await pace(copy);
  } else await writeLargeFile(copy, entry, dest, target);
  if (inode && inode.nlink > 1) copy.links.set(inode, target);
}

/**
 * Makes a new directory entry with `make`; a non-directory already there (from the parent
 * image) is replaced, a directory is an error, as copyIntoRoot does.
 */
function replacingSync<T>(target: string, dest: string, make: () => T): T {
  try {
    return make();
  } catch (err) {
    clearInTheWay(err, target, dest);
  }
  return make();
}

/** After `make` failed with `err`: a non-directory in the way is removed, anything else thrown. */
function clearInTheWay(err: unknown, target: string, dest: string): void {
  if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  if (lstatSync(target).isDirectory()) {
    throw invalidParameter(`cannot copy to non-directory: ${dest} is a directory`);
  }
  rmSync(target, { force: true });
}

/**
 * A symlink or small file, with synchronous calls: each of a small file's six calls (open,
 * write, chown, chmod, utimes, close) costs a thread-pool round trip when made asynchronously,
 * far more than the call itself.
 */
function writeEntrySync(copy: SpoolCopy, entry: IndexedEntry, dest: string, target: string): void {
  const { uid, gid } = copy.owner;
  if (entry.type === 'symlink') {
    replacingSync(target, dest, () => symlinkSync(entry.target ?? '', target));
    lchownSync(target, uid, gid);
    lutimesSync(target, entry.mtime, entry.mtime);
    return;
  }
  const out = replacingSync(target, dest, () => openSync(target, 'wx', 0o600));
  try {
    const size = entry.size ?? 0;
    const offset = entry.offset ?? 0;
    let done = 0;
    while (done < size) {
      const read = readSync(copy.fh.fd, copy.small, 0, size - done, offset + done);
      if (read === 0) throw invalidParameter('the build context ended early');
      for (let written = 0; written < read; ) written += writeSync(out, copy.small, written, read - written);
      done += read;
    }
    fchownSync(out, uid, gid);
    // After chown: chown clears set-id bits.
    fchmodSync(out, copy.mode ?? entry.perm);
    futimesSync(out, entry.mtime, entry.mtime);
  } finally {
    closeSync(out);
  }
}

/** A large file: its content streamed from the spool with asynchronous calls. */
async function writeLargeFile(
  copy: SpoolCopy,
  entry: IndexedEntry,
  dest: string,
  target: string,
): Promise<void> {
  const out = await replacing(target, dest, () => open(target, 'wx', 0o600));
  try {
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
    await out.chown(copy.owner.uid, copy.owner.gid);
    // After chown: chown clears set-id bits.
    await out.chmod(copy.mode ?? entry.perm);
    await out.utimes(entry.mtime, entry.mtime);
  } finally {
    await out.close();
  }
}

/** {@link replacingSync} for an asynchronous `make`. */
async function replacing<T>(target: string, dest: string, make: () => Promise<T>): Promise<T> {
  try {
    return await make();
  } catch (err) {
    clearInTheWay(err, target, dest);
  }
  return make();
}
