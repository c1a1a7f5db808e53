import { type Dirent, type Stats, lstatSync, readdirSync } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { execa } from 'execa';
import { lxattrs } from './syscalls.js';

/** One line of `docker diff`: Added, Changed or Deleted. */
export interface Change {
  kind: 'A' | 'C' | 'D';
  /** Absolute path inside the container, e.g. `/etc/hosts`. */
  path: string;
}

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** overlayfs marks a deletion with a 0/0 character device. */
export function isOverlayWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Orders paths as a depth-first walk with sorted names does (`/a`, `/a/b`, `/a-b`): a
 * directory always precedes what is inside it, which is the order `docker diff` prints.
 */
export function compareWalkOrder(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x !== y) return Buffer.compare(Buffer.from(x), Buffer.from(y));
  }
  return pa.length - pb.length;
}

function decodeOctalEscapes(s: string): string {
  // getfattr escapes unusual bytes as \ooo; decode them as bytes so UTF-8 names survive.
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const m = /^\\([0-7]{3})/.exec(s.slice(i, i + 4));
    if (m) {
      bytes.push(Number.parseInt(m[1]!, 8));
      i += 3;
    } else bytes.push(...Buffer.from(s[i]!));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Every extended attribute below `dir` (`dir` included), keyed by absolute path; files without
 * any are left out. A symlink's are its own, never its target's (which may lie outside the
 * tree). Read in-process (see `lxattrs`) where libc
 * can be called, else by one getfattr for the tree; empty when neither can: layers then carry
 * no xattrs.
 */
export async function readXattrs(dir: string): Promise<Map<string, Map<string, Buffer>>> {
  if (lxattrs(dir) === undefined) return readXattrsWithGetfattr(dir);
  const out = new Map<string, Map<string, Buffer>>();
  const pending = [dir];
  let sinceYield = 0;
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    const attrs = lxattrs(path)!;
    if (attrs.size > 0) out.set(path, attrs);
    if (path === dir && !lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) break;
    let entries: Dirent[];
    try {
      entries = readdirSync(path, { withFileTypes: true });
    } catch {
      continue; // gone or unreadable meanwhile: getfattr reports and skips it too
    }
    for (const e of entries) {
      const child = `${path}/${e.name}`;
      if (e.isDirectory()) pending.push(child);
      else {
        const childAttrs = lxattrs(child)!;
        if (childAttrs.size > 0) out.set(child, childAttrs);
      }
    }
    // Synchronous calls of a few microseconds each: the loop is given back now and then.
    sinceYield += entries.length;
    if (sinceYield >= 2000) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return out;
}

/** {@link readXattrs} by getfattr(1): where libc cannot be called, and to test the other against. */
export async function readXattrsWithGetfattr(dir: string): Promise<Map<string, Map<string, Buffer>>> {
  // getfattr exits non-zero when some files lack attributes; its output is still complete.
  const dump = await execa(
    'getfattr',
    ['-R', '-P', '-h', '--absolute-names', '-d', '-m', '-', '-e', 'base64', dir],
    { reject: false },
  );
  const out = new Map<string, Map<string, Buffer>>();
  for (const block of dump.stdout.split('\n\n')) {
    const lines = block.split('\n');
    const header = lines.find((l) => l.startsWith('# file: '));
    if (!header) continue;
    const file = decodeOctalEscapes(header.slice('# file: '.length));
    const attrs = new Map<string, Buffer>();
    for (const line of lines) {
      const m = /^([^#=][^=]*)=0s(.*)$/.exec(line);
      if (m) attrs.set(m[1]!, Buffer.from(m[2]!, 'base64'));
      else if (/^[^#=][^=]*$/.test(line)) attrs.set(line, Buffer.alloc(0));
    }
    if (attrs.size > 0) out.set(file, attrs);
  }
  return out;
}

/** Directories of an overlay upper dir that carry the opaque xattr. */
export async function opaqueDirectories(upper: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const [file, attrs] of await readXattrs(upper))
    if (attrs.get(OPAQUE_XATTR)?.toString() === 'y') out.add(file);
  return out;
}

/** The first lower layer (nearest first) holding `rel`; undefined when none or whited out. */
async function findInLowers(lowers: readonly string[], rel: string): Promise<Stats | undefined> {
  for (const lower of lowers) {
    const st = await lstatOrUndefined(join(lower, rel));
    if (st === undefined) continue;
    return isOverlayWhiteout(st) ? undefined : st;
  }
  return undefined;
}

function sameDirectory(a: Stats, b: Stats): boolean {
  return a.mode === b.mode && a.size === b.size && Math.trunc(a.mtimeMs) === Math.trunc(b.mtimeMs);
}

/**
 * Docker's `diff` of an overlay snapshot, following its rules: walk the upper dir; a
 * whiteout is D, and so is an opaque directory that hid a lower one (its new contents
 * follow as A); an entry the lower layers lack is A; anything else copied up is C, except a
 * directory whose mode, size and mtime equal the lower one (it was only copied up to hold a
 * child). The parents of every change are listed as C, as they are for full-copy drivers (the
 * layer must carry them to restore their permissions), so both drivers print the same diff.
 */
export async function overlayChanges(upper: string, lowers: readonly string[]): Promise<Change[]> {
  const opaque = await opaqueDirectories(upper);
  const changes: Change[] = [];
  const changedDirs = new Set<string>();
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(upper, rel))).sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const full = join(upper, childRel);
      const st = await lstat(full);
      const path = `/${childRel}`;
      const lower = await findInLowers(lowers, childRel);
      let kind: Change['kind'] | undefined;
      if (isOverlayWhiteout(st)) kind = 'D';
      else if (st.isDirectory() && opaque.has(full) && lower !== undefined) kind = 'D';
      else if (lower === undefined) kind = 'A';
      else if (!(st.isDirectory() && lower.isDirectory() && sameDirectory(st, lower))) kind = 'C';
      if (kind !== undefined) {
        if (st.isDirectory()) changedDirs.add(path);
        for (let parent = posix.dirname(path); parent !== '/'; parent = posix.dirname(parent)) {
          if (changedDirs.has(parent)) break;
          changes.push({ kind: 'C', path: parent });
          changedDirs.add(parent);
        }
        changes.push({ kind, path });
      }
      if (st.isDirectory()) await walk(childRel);
    }
  };
  await walk('');
  return changes.sort((a, b) => compareWalkOrder(a.path, b.path));
}

function sameEntry(a: Stats, b: Stats): boolean {
  if ((a.mode & 0o170000) !== (b.mode & 0o170000)) return false;
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return false;
  // A directory's size and mtime follow its entries; its children report their own changes.
  if (a.isDirectory()) return true;
  return a.size === b.size && Math.trunc(a.mtimeMs) === Math.trunc(b.mtimeMs);
}

/**
 * `diff` for full-copy snapshots: compare the snapshot's tree with its parent's. An entry
 * differing in type, mode, owner, size, mtime or link target is C; a directory with a changed
 * child is C too (Docker records it so that the layer restores its permissions).
 */
export async function treeChanges(tree: string, parent: string | undefined): Promise<Change[]> {
  const changes: Change[] = [];
  const walk = async (rel: string): Promise<boolean> => {
    let changed = false;
    const here = new Set(await readdir(join(tree, rel)));
    const before = new Set(parent ? await readdir(join(parent, rel)).catch(() => [] as string[]) : []);
    for (const name of before) {
      if (!here.has(name)) {
        changes.push({ kind: 'D', path: `/${rel === '' ? name : `${rel}/${name}`}` });
        changed = true;
      }
    }
    for (const name of here) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(tree, childRel));
      const old = parent && before.has(name) ? await lstatOrUndefined(join(parent, childRel)) : undefined;
      if (!old || old.isDirectory() !== st.isDirectory()) {
        if (old) changes.push({ kind: 'D', path: `/${childRel}` });
        changes.push({ kind: 'A', path: `/${childRel}` });
        if (st.isDirectory()) await walk(childRel);
        changed = true;
        continue;
      }
      let childChanged = !sameEntry(st, old);
      if (!childChanged && st.isSymbolicLink())
        childChanged = (await readlink(join(tree, childRel))) !== (await readlink(join(parent!, childRel)));
      if (st.isDirectory() && (await walk(childRel))) childChanged = true;
      if (childChanged) {
        changes.push({ kind: 'C', path: `/${childRel}` });
        changed = true;
      }
    }
    return changed;
  };
  await walk('');
  // A type change is D then A of the same path; keep the A (the layer replaces the entry).
  const seen = new Map<string, Change>();
  for (const c of changes) if (!seen.has(c.path) || c.kind === 'A') seen.set(c.path, c);
  return [...seen.values()].sort((a, b) => compareWalkOrder(a.path, b.path));
}
