import { type Stats, lstatSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { OPAQUE_XATTR, isOverlayWhiteout, readXattrs, treeChanges } from './changes.js';
import { type IdMappings, OVERFLOW_ID, containerIdOf } from './idmap.js';
import { TarEncoder } from './tar-encoder.js';

// Layer tarballs: the one writer of a snapshot's changes (and of `docker cp`'s archives).

/** What a layer tarball held, known once it is written. */
export interface LayerSummary {
  /** Bytes of regular-file content, as an unpack of the tarball counts them. */
  contentSize: number;
}

/** Linux dev_t split as glibc's major()/minor() do. */
function devNumbers(rdev: number): { devmajor: number; devminor: number } {
  return { devmajor: (rdev >>> 8) & 0xfff, devminor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) };
}

/**
 * Writes layer entries for files of one directory tree: ownership, mode, mtime, hard links
 * (as links to the first path seen), symlinks, devices, FIFOs, and extended attributes
 * except overlayfs' own. Sockets are skipped as Docker does.
 */
export class LayerWriter {
  private readonly inodes = new Map<string, string>();
  private readonly tar = new TarEncoder();
  /** Bytes of regular-file content written so far (hard links count once). */
  contentSize = 0;

  /** Filled in by `stream` before the first entry. */
  private xattrs = new Map<string, Map<string, Buffer>>();

  /**
   * `rename` maps a path relative to `root` to its name in the archive (default: itself);
   * `idMappings` turns host owners into the container's (files of a `--userns-remap`
   * container are stored with host ids, its archives carry the ids it sees).
   */
  constructor(
    private readonly root: string,
    private readonly rename: (rel: string) => string = (rel) => rel,
    private readonly idMappings?: IdMappings,
  ) {}

  private owner(s: Stats): { uid: number; gid: number } {
    const m = this.idMappings;
    if (!m) return { uid: s.uid, gid: s.gid };
    return {
      uid: containerIdOf(m.uidMappings, s.uid) ?? OVERFLOW_ID,
      gid: containerIdOf(m.gidMappings, s.gid) ?? OVERFLOW_ID,
    };
  }

  whiteout(rel: string): Promise<void> {
    const name = posix.join(posix.dirname(this.rename(rel)), `.wh.${posix.basename(rel)}`);
    return this.tar.header({ name, type: 'file', size: 0, mode: 0o644, mtime: new Date(0) });
  }

  opaque(rel: string): Promise<void> {
    return this.tar.header({
      name: `${this.rename(rel)}/.wh..wh..opq`,
      type: 'file',
      size: 0,
      mode: 0o644,
      mtime: new Date(0),
    });
  }

  private pax(full: string): Record<string, string> | undefined {
    const attrs = this.xattrs.get(full);
    if (!attrs) return undefined;
    const pax: Record<string, string> = {};
    for (const [name, value] of attrs) {
      if (name.startsWith('trusted.overlay.')) continue;
      // tar-stream writes pax values as UTF-8 text, so binary values cannot round-trip.
      const text = value.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(value)) continue;
      pax[`SCHILY.xattr.${name}`] = text;
    }
    return Object.keys(pax).length > 0 ? pax : undefined;
  }

  /** Writes `rel` itself (not its children); returns its stats. */
  async add(rel: string, st?: Stats): Promise<Stats> {
    const full = join(this.root, rel);
    const s = st ?? lstatSync(full);
    const pax = this.pax(full);
    const name = this.rename(rel);
    const base = {
      name,
      ...this.owner(s),
      mode: s.mode & 0o7777,
      mtime: new Date(Math.trunc(s.mtimeMs / 1000) * 1000),
      ...(pax ? { pax } : {}),
    };
    if (s.isDirectory()) await this.tar.header({ ...base, name: `${name}/`, type: 'directory' });
    else if (s.isSymbolicLink())
      await this.tar.header({ ...base, type: 'symlink', linkname: await readlink(full) });
    else if (s.isFile()) {
      const inode = `${s.dev}:${s.ino}`;
      const first = s.nlink > 1 ? this.inodes.get(inode) : undefined;
      if (first !== undefined) await this.tar.header({ ...base, type: 'link', linkname: first });
      else {
        if (s.nlink > 1) this.inodes.set(inode, name);
        await this.tar.header({ ...base, type: 'file', size: s.size });
        await this.tar.fileData(full, s.size, name);
        this.contentSize += s.size;
      }
    } else if (s.isCharacterDevice() || s.isBlockDevice())
      await this.tar.header({
        ...base,
        type: s.isCharacterDevice() ? 'character-device' : 'block-device',
        ...devNumbers(s.rdev),
      });
    else if (s.isFIFO()) await this.tar.header({ ...base, type: 'fifo' });
    return s;
  }

  /**
   * Reads the tree's xattrs, runs `body` and ends the tarball, or fails it with the error.
   * `onDone` hears what was written before the tarball ends.
   */
  stream(
    body: (xattrs: Map<string, Map<string, Buffer>>) => Promise<void>,
    scope = this.root,
    onDone?: (summary: LayerSummary) => void,
  ): Readable {
    const run = async () => {
      this.xattrs = await readXattrs(scope);
      await body(this.xattrs);
      onDone?.({ contentSize: this.contentSize });
    };
    // Ending the tarball fails too when its reader went away: the stream is then destroyed.
    run()
      .then(() => this.tar.finish())
      .catch((err: unknown) => this.tar.fail(err as Error));
    return this.tar.stream;
  }
}

/**
 * The OCI layer tarball of an overlay upper dir: deletions as `.wh.NAME`, opaque directories
 * with `.wh..wh..opq`. Entries are sorted and carry only file metadata, so the same changes
 * give the same bytes and so the same DiffID.
 */
export function overlayLayerTar(
  upper: string,
  idMappings?: IdMappings,
  onDone?: (summary: LayerSummary) => void,
): Readable {
  const w = new LayerWriter(upper, undefined, idMappings);
  const walk = async (rel: string, opaque: ReadonlySet<string>) => {
    for (const name of (await readdir(join(upper, rel))).sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      // Synchronous: one lstat per entry, a few microseconds each (an asynchronous one is a
      // thread-pool round trip).
      const st = lstatSync(join(upper, childRel));
      if (isOverlayWhiteout(st)) {
        await w.whiteout(childRel);
        continue;
      }
      await w.add(childRel, st);
      if (st.isDirectory()) {
        if (opaque.has(join(upper, childRel))) await w.opaque(childRel);
        await walk(childRel, opaque);
      }
    }
  };
  return w.stream(
    async (xattrs) => {
      const opaque = new Set<string>();
      for (const [file, attrs] of xattrs) if (attrs.get(OPAQUE_XATTR)?.toString() === 'y') opaque.add(file);
      await walk('', opaque);
    },
    upper,
    onDone,
  );
}

/** The layer tarball of a full-copy snapshot: its changes against the parent's tree. */
export function treeLayerTar(
  tree: string,
  parent: string | undefined,
  onDone?: (summary: LayerSummary) => void,
): Readable {
  const w = new LayerWriter(tree);
  return w.stream(
    async () => {
      for (const change of await treeChanges(tree, parent)) {
        const rel = change.path.slice(1);
        if (change.kind === 'D') await w.whiteout(rel);
        else await w.add(rel);
      }
    },
    tree,
    onDone,
  );
}
