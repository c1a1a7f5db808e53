import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import tar from 'tar-stream';

/** One line of `docker diff`: Added, Changed or Deleted. */
export interface Change {
  kind: 'A' | 'C' | 'D';
  /** Absolute path inside the container, e.g. `/etc/hosts`. */
  path: string;
}

type Stats = Awaited<ReturnType<typeof lstat>>;

/** overlayfs marks a deletion with a 0/0 character device. */
function isOverlayWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return undefined;
    throw err;
  }
}

/** Directories of an overlay upper dir that carry the opaque xattr (one getfattr for all). */
export async function opaqueDirectories(upper: string): Promise<Set<string>> {
  // getfattr exits non-zero when some files lack the attribute; its output is still complete.
  const dump = await execa(
    'getfattr',
    ['-R', '--absolute-names', '-d', '-m', '^trusted\\.overlay\\.opaque$', upper],
    { reject: false },
  );
  const out = new Set<string>();
  for (const block of dump.stdout.split('\n\n')) {
    const file = /^# file: (.*)$/m.exec(block)?.[1];
    if (file && /trusted\.overlay\.opaque="y"/.test(block)) {
      out.add(file.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
    }
  }
  return out;
}

/** Whether `rel` exists in the merged view of `lowers` (nearest first), honouring whiteouts. */
async function existsInLowers(lowers: readonly string[], rel: string): Promise<boolean> {
  for (const lower of lowers) {
    const st = await lstatOrUndefined(join(lower, rel));
    if (st === undefined) continue;
    return !isOverlayWhiteout(st);
  }
  return false;
}

/**
 * Docker's `diff` of an overlay snapshot: walk its upper dir; a whiteout is D, an entry the
 * lower layers lack is A, anything else present in upper (copied up, so changed, including
 * the parent directories of a change) is C. Sorted by path.
 */
export async function overlayChanges(upper: string, lowers: readonly string[]): Promise<Change[]> {
  const changes: Change[] = [];
  const walk = async (rel: string) => {
    for (const name of await readdir(join(upper, rel))) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(upper, childRel));
      const path = `/${childRel}`;
      if (isOverlayWhiteout(st)) {
        changes.push({ kind: 'D', path });
        continue;
      }
      changes.push({ kind: (await existsInLowers(lowers, childRel)) ? 'C' : 'A', path });
      if (st.isDirectory()) await walk(childRel);
    }
  };
  await walk('');
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** `diff` for full-copy snapshots: compare the snapshot's tree with its parent's. */
export async function treeChanges(tree: string, parent: string | undefined): Promise<Change[]> {
  const changes: Change[] = [];
  const same = (a: Stats, b: Stats) =>
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    (a.isDirectory() || (a.size === b.size && a.mtimeMs === b.mtimeMs));
  const walk = async (rel: string): Promise<boolean> => {
    let changed = false;
    const here = new Set(await readdir(join(tree, rel)));
    const before = parent
      ? new Set(await readdir(join(parent, rel)).catch(() => [] as string[]))
      : new Set<string>();
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
      if (!old) {
        changes.push({ kind: 'A', path: `/${childRel}` });
        if (st.isDirectory()) await walk(childRel);
        changed = true;
        continue;
      }
      let childChanged = !same(st, old) || st.isDirectory() !== old.isDirectory();
      if (!childChanged && st.isSymbolicLink())
        childChanged = (await readlink(join(tree, childRel))) !== (await readlink(join(parent!, childRel)));
      if (st.isDirectory() && old.isDirectory() && (await walk(childRel))) childChanged = true;
      if (childChanged) {
        changes.push({ kind: 'C', path: `/${childRel}` });
        changed = true;
      }
    }
    return changed;
  };
  await walk('');
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The OCI layer tarball of an overlay upper dir: deletions as `.wh.NAME`, opaque directories
 * with `.wh..wh..opq`, hard links kept, entries sorted so the same changes give the same DiffID.
 */
export function overlayLayerTar(upper: string): Readable {
  const pack = tar.pack();
  const run = async () => {
    const opaque = await opaqueDirectories(upper);
    const inodes = new Map<string, string>();
    const walk = async (rel: string) => {
      const names = (await readdir(join(upper, rel))).sort();
      for (const name of names) {
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const full = join(upper, childRel);
        const st = await lstat(full);
        const base = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, mtime: st.mtime };
        if (isOverlayWhiteout(st)) {
          await entry(pack, {
            ...base,
            name: posix.join(rel, `.wh.${name}`),
            type: 'file',
            size: 0,
            mode: 0o644,
          });
          continue;
        }
        if (st.isDirectory()) {
          await entry(pack, { ...base, name: `${childRel}/`, type: 'directory' });
          if (opaque.has(full))
            await entry(pack, {
              ...base,
              name: `${childRel}/.wh..wh..opq`,
              type: 'file',
              size: 0,
              mode: 0o644,
            });
          await walk(childRel);
          continue;
        }
        if (st.isSymbolicLink()) {
          await entry(pack, { ...base, name: childRel, type: 'symlink', linkname: await readlink(full) });
          continue;
        }
        if (st.isFile()) {
          const key = `${st.dev}:${st.ino}`;
          const first = st.nlink > 1 ? inodes.get(key) : undefined;
          if (first !== undefined) {
            await entry(pack, { ...base, name: childRel, type: 'link', linkname: first });
            continue;
          }
          if (st.nlink > 1) inodes.set(key, childRel);
          await fileEntry(pack, { ...base, name: childRel, type: 'file', size: st.size }, full);
          continue;
        }
        if (st.isCharacterDevice() || st.isBlockDevice()) {
          await entry(pack, {
            ...base,
            name: childRel,
            type: st.isCharacterDevice() ? 'character-device' : 'block-device',
            devmajor: Math.floor(st.rdev / 256),
            devminor: st.rdev % 256,
          });
          continue;
        }
        if (st.isFIFO()) await entry(pack, { ...base, name: childRel, type: 'fifo' });
        // Sockets are not carried in layers (Docker skips them too).
      }
    };
    await walk('');
    pack.finalize();
  };
  run().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

type EntryHeader = Partial<tar.Header> & { name: string };

function entry(pack: tar.Pack, header: EntryHeader): Promise<void> {
  return new Promise((resolve, reject) => {
    // An empty body ends the entry: without one tar-stream waits for file data.
    pack.entry(header as tar.Header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
  });
}

async function fileEntry(pack: tar.Pack, header: EntryHeader, path: string): Promise<void> {
  const { createReadStream } = await import('node:fs');
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header as tar.Header, (err) => (err ? reject(err) : resolve()));
    createReadStream(path).on('error', reject).pipe(sink);
  });
}

/** The layer tarball of a full-copy snapshot: its changes against the parent's tree. */
export function treeLayerTar(tree: string, parent: string | undefined): Readable {
  const pack = tar.pack();
  const run = async () => {
    for (const change of await treeChanges(tree, parent)) {
      const rel = change.path.slice(1);
      if (change.kind === 'D') {
        await entry(pack, {
          name: posix.join(posix.dirname(rel), `.wh.${posix.basename(rel)}`),
          type: 'file',
          size: 0,
          mode: 0o644,
        });
        continue;
      }
      const full = join(tree, rel);
      const st = await lstat(full);
      const base = { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, mtime: st.mtime };
      if (st.isDirectory()) await entry(pack, { ...base, name: `${rel}/`, type: 'directory' });
      else if (st.isSymbolicLink())
        await entry(pack, { ...base, name: rel, type: 'symlink', linkname: await readlink(full) });
      else if (st.isFile()) await fileEntry(pack, { ...base, name: rel, type: 'file', size: st.size }, full);
    }
    pack.finalize();
  };
  run().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}
