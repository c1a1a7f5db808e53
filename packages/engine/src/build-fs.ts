import { open } from 'node:fs/promises';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readFile,
  readdir,
  readlink,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { join, posix } from 'node:path';
import { matchPath } from '@ts-container/builder';
import { resolveInRoot } from '@ts-container/image';
import { invalidParameter } from './errors.js';

/**
 * Filesystem work of COPY and ADD inside an image root that is mounted on this host. Every path
 * inside the root is resolved the way the kernel would resolve it after `chroot`: symlinks in
 * the image (absolute or relative, `..` included) never lead out of the root.
 */

/** One in-root resolution for the whole engine: the safe archive module's. */
export { resolveInRoot };

/** Whether `path` (inside `root`, symlinks followed) is an existing directory. */
export async function isDirectoryInRoot(root: string, path: string): Promise<boolean> {
  const st = await lstat(await resolveInRoot(root, path)).catch(() => undefined);
  return st?.isDirectory() ?? false;
}

/** Paths inside `root` matching `pattern` (wildcards per segment, like Go's filepath.Match). */
export async function globInRoot(root: string, pattern: string): Promise<string[]> {
  const segments = posix.normalize(`/${pattern}`).split('/').filter(Boolean);
  let matches = ['/'];
  for (const segment of segments) {
    const next: string[] = [];
    for (const base of matches) {
      if (!/[*?[\\]/.test(segment)) {
        const candidate = posix.join(base, segment);
        if (await lstat(await resolveInRoot(root, candidate, false)).catch(() => undefined))
          next.push(candidate);
        continue;
      }
      const dir = await resolveInRoot(root, base);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort()) if (matchPath(segment, name)) next.push(posix.join(base, name));
    }
    matches = next;
  }
  return matches;
}

export interface Ownership {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  /** Owner of everything copied; undefined keeps the source's owner (ADD of an archive). */
  owner?: Ownership;
  /** `--chmod`: the mode of every copied file and directory. */
  mode?: number;
  /** Skips a source entry by its path relative to the copied source (`sub/x.log`). */
  exclude?: (relPath: string) => boolean;
  /**
   * Hard links seen so far (source `dev:ino` → host path written): a second name of a file
   * becomes a hard link again, as Docker's tar-based copy keeps it (`cp -al` trees stay small).
   */
  links?: Map<string, string>;
}

/**
 * Makes directory `path` inside `root` with its missing parents; directories it creates get
 * `owner` (Docker creates missing destination directories owned by the --chown user).
 */
export async function mkdirInRoot(root: string, path: string, owner?: Ownership): Promise<string> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  let current = '/';
  let host = root;
  for (const part of parts) {
    current = posix.join(current, part);
    host = await resolveInRoot(root, current);
    const st = await lstat(host).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) await rm(host, { recursive: true, force: true });
    // A symlink in the image may point at a path whose parents do not exist yet; the resolved
    // host path has no symlinks left in it, so creating them all stays inside the root.
    await mkdir(host, { recursive: true, mode: 0o755 });
    await chmod(host, 0o755);
    if (owner) await lchown(host, owner.uid, owner.gid);
  }
  return host;
}

/**
 * Copies host file or directory `source` to `dest` inside `root`. A directory's contents go
 * into `dest`; a file or symlink becomes `dest` itself (callers pick `dest/<name>` for "into").
 */
export async function copyIntoRoot(
  root: string,
  source: string,
  dest: string,
  options: CopyOptions = {},
): Promise<void> {
  const st = await lstat(source);
  const withLinks = { ...options, links: options.links ?? new Map<string, string>() };
  if (st.isDirectory()) {
    await copyDirectory(root, source, dest, '', withLinks, true);
    return;
  }
  await mkdirInRoot(root, posix.dirname(dest), options.owner);
  await copyEntry(root, source, dest, withLinks);
}

/**
 * Copies the entries of host directory `source` below `dest`. With `create` false (a directory
 * excluded by .dockerignore) the directory is only made if something inside it is copied, so
 * that `!dir/keep` patterns still work.
 */
async function copyDirectory(
  root: string,
  source: string,
  dest: string,
  rel: string,
  options: CopyOptions,
  create: boolean,
): Promise<boolean> {
  const st = await lstat(source);
  let made = false;
  const makeSelf = async () => {
    if (made) return;
    made = true;
    const host = await mkdirInRoot(root, dest, options.owner);
    // The copied directory itself is not copied, only its contents: an existing destination
    // keeps its owner and mode (`COPY . /` leaves / alone).
    if (rel === '') return;
    await chmod(host, options.mode ?? st.mode & 0o7777);
    if (options.owner) await lchown(host, options.owner.uid, options.owner.gid);
    else await lchown(host, st.uid, st.gid);
  };
  if (create) await makeSelf();
  for (const name of (await readdir(source)).sort()) {
    const childRel = rel === '' ? name : `${rel}/${name}`;
    const childSource = join(source, name);
    const childDest = posix.join(dest, name);
    const excluded = options.exclude?.(childRel) ?? false;
    const childSt = await lstat(childSource);
    if (childSt.isDirectory()) {
      if (!made && !excluded) await makeSelf();
      const copied = await copyDirectory(root, childSource, childDest, childRel, options, !excluded);
      if (copied && !made) {
        // Something inside an excluded directory was re-included: the parent had to exist.
        made = true;
      }
      continue;
    }
    if (excluded) continue;
    await makeSelf();
    await copyEntry(root, childSource, childDest, options);
  }
  if (made && rel !== '') {
    const host = await resolveInRoot(root, dest);
    await utimes(host, st.atime, st.mtime);
  }
  return made;
}

/** One file or symlink to `dest` inside `root` (its parent exists). */
async function copyEntry(root: string, source: string, dest: string, options: CopyOptions): Promise<void> {
  const st = await lstat(source);
  const parent = await resolveInRoot(root, posix.dirname(dest));
  const target = join(parent, posix.basename(dest));
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isDirectory() && !st.isDirectory()) {
    throw invalidParameter(`cannot copy to non-directory: ${dest} is a directory`);
  }
  if (existing) await rm(target, { force: true });
  const inode = `${st.dev}:${st.ino}`;
  const first = st.nlink > 1 ? options.links?.get(inode) : undefined;
  if (first !== undefined) {
    // Owner, mode and times are the inode's: already set through its first name.
    await link(first, target);
    return;
  }
  if (st.nlink > 1 && (st.isFile() || st.isSymbolicLink())) options.links?.set(inode, target);
  if (st.isSymbolicLink()) {
    await symlink(await readlink(source), target);
    if (options.owner) await lchown(target, options.owner.uid, options.owner.gid);
    else await lchown(target, st.uid, st.gid);
    await lutimes(target, st.atime, st.mtime);
    return;
  }
  if (!st.isFile()) return; // devices, sockets and FIFOs are not copied
  await copyFile(source, target);
  if (options.owner) await lchown(target, options.owner.uid, options.owner.gid);
  else await lchown(target, st.uid, st.gid);
  // After chown: chown clears set-id bits.
  await chmod(target, options.mode ?? st.mode & 0o7777);
  await utimes(target, st.atime, st.mtime);
}

/** Whether a host file is a tar archive ADD unpacks (plain, gzip, bzip2 or xz). */
export async function isArchive(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    return isArchiveHead(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** Whether a file's first (up to 512) bytes are those of a tar archive, plain or compressed. */
export function isArchiveHead(head: Buffer): boolean {
  if (head[0] === 0x1f && head[1] === 0x8b) return true;
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return true;
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true;
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
}

/** Reads a file inside the root (symlinks resolved within it), or undefined. */
export async function readFileInRoot(root: string, path: string): Promise<string | undefined> {
  return readFile(await resolveInRoot(root, path), 'utf8').catch(() => undefined);
}
