import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import tar from 'tar-stream';
import { decompressStream } from './compression.js';
import type { Digest } from './digest.js';
import { type EntryCalls, directCalls, mknod, pooledCalls, restoreXattrs } from './entry-calls.js';
import { ArchiveError, UnsafeTarEntryError, archiveFailure } from './errors.js';

/**
 * The one place an archive is written into a directory (build contexts, ADD, PUT archive,
 * import, load, layers). Every entry is resolved inside the root as the kernel would resolve it
 * after `chroot` (symlinks followed within the root, like moby's FollowSymlinkInScope), hard
 * links may only name entries inside the root, and the archive is streamed, never held whole.
 */

/** OCI image-spec layer.md: a whiteout file hides NAME from lower layers. */
export const WHITEOUT_PREFIX = '.wh.';
/** OCI image-spec layer.md: an opaque whiteout hides every lower entry of its directory. */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Linux's MAXSYMLINKS. */
const MAX_SYMLINK_HOPS = 40;

export interface ExtractArchiveOptions {
  /**
   * What `.wh.` entries mean. `overlay`: keep them in overlayfs' form (a 0/0 character device,
   * the opaque xattr); `apply`: carry the deletions out on the root; `none`: ordinary files.
   */
  whiteouts: 'overlay' | 'apply' | 'none';
  /** Restore uid/gid from the archive (default: when running as root). */
  sameOwner?: boolean;
  /** Device nodes and FIFOs: made (default) or skipped (a build context has no use for them). */
  devices?: 'create' | 'skip';
  /** The directory inside the root that entry names are relative to (default: the root). */
  into?: string;
  /** Leading name components dropped from every entry (tar's --strip-components). */
  strip?: number;
  /** Hash the uncompressed stream (a layer's DiffID). */
  digest?: boolean;
  /** Called with every written entry's root-relative name and archive owner. */
  onEntry?: (entry: { name: string; uid: number; gid: number }) => void;
  /**
   * `direct`: each entry's system calls are made on this thread (a layer in the daemon's own
   * storage; see entry-calls.ts); `pooled` (default): through the thread pool.
   */
  calls?: 'pooled' | 'direct';
}

export interface ExtractArchiveResult {
  /** sha256 of the uncompressed tar stream, when asked for. */
  diffId?: Digest;
  /** Bytes of regular file content written. */
  contentSize: number;
}

/** Strips `./` and leading `/`; rejects names that climb above the root with `..`. */
export function normaliseEntryName(name: string): string {
  const plain = plainName(name);
  if (plain !== undefined) return plain;
  const cleaned = posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
  if (cleaned === '.' || cleaned === '') return '';
  if (name.split('/').includes('..')) {
    const depthCheck = posix.normalize(name.replace(/^\/+/, ''));
    if (depthCheck === '..' || depthCheck.startsWith('../')) {
      throw new UnsafeTarEntryError(name, 'path escapes the root');
    }
  }
  return cleaned;
}

/**
 * The name itself (less one trailing `/`) when normalising cannot change it: relative, no empty,
 * `.` or `..` component. Most entries are such names; the check makes no string.
 */
function plainName(name: string): string | undefined {
  const len = name.endsWith('/') ? name.length - 1 : name.length;
  if (len === 0) return undefined;
  let start = 0;
  for (let i = 0; i <= len; i++) {
    if (i < len && name.charCodeAt(i) !== 0x2f) continue;
    const part = i - start;
    // An empty component (a leading or doubled `/`), `.` or `..`.
    if (part === 0) return undefined;
    if (
      name.charCodeAt(start) === 0x2e &&
      (part === 1 || (part === 2 && name.charCodeAt(start + 1) === 0x2e))
    )
      return undefined;
    start = i + 1;
  }
  return len === name.length ? name : name.slice(0, len);
}

/**
 * The host path of `path` inside `root`, following symlinks within the root (an absolute
 * target or `..` never leaves it). With `followFinal` false the last component is not
 * followed (lstat rather than stat). Nothing is created.
 */
export function resolveInRoot(root: string, path: string, followFinal = true): Promise<string> {
  return resolveWithin(root, path, followFinal, pooledCalls);
}

async function resolveWithin(
  root: string,
  path: string,
  followFinal: boolean,
  calls: EntryCalls,
): Promise<string> {
  const stack = path.split('/').filter((c) => c !== '' && c !== '.');
  let current = root;
  let hops = 0;
  while (stack.length > 0) {
    const component = stack.shift()!;
    if (component === '..') {
      current = current === root ? root : dirname(current);
      continue;
    }
    const next = join(current, component);
    const st = await calls.lstat(next);
    if (st?.isSymbolicLink() && (stack.length > 0 || followFinal)) {
      if (++hops > MAX_SYMLINK_HOPS) throw new ArchiveError(`${path}: too many levels of symbolic links`);
      const target = await calls.readlink(next);
      if (target.startsWith('/')) current = root;
      stack.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    current = next;
  }
  return current;
}

/**
 * Resolves (creating missing directories, as tar does) directories inside a root, with a cache
 * of those already known to be real directories.
 */
export class RootResolver {
  private readonly knownDirs = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly calls: EntryCalls = pooledCalls,
  ) {
    this.knownDirs.add(root);
  }

  markDir(path: string): void {
    this.knownDirs.add(path);
  }

  forget(path: string): void {
    for (const known of this.knownDirs) {
      if (known === path || known.startsWith(`${path}/`)) this.knownDirs.delete(known);
    }
  }

  /** The host path of directory `rel` (root-relative), made if missing. */
  async resolveDir(rel: string): Promise<string> {
    if (rel === '.' || rel === '') return this.root;
    const direct = join(this.root, rel);
    if (this.knownDirs.has(direct)) return direct;
    const stack = rel.split('/');
    let current = this.root;
    let hops = 0;
    while (stack.length > 0) {
      const component = stack.shift()!;
      if (component === '' || component === '.') continue;
      if (component === '..') {
        current = current === this.root ? this.root : dirname(current);
        continue;
      }
      const next = join(current, component);
      if (this.knownDirs.has(next)) {
        current = next;
        continue;
      }
      const st = await this.calls.lstat(next);
      if (st === undefined) {
        await this.calls.mkdir(next, 0o755);
        this.knownDirs.add(next);
        current = next;
      } else if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS)
          throw new UnsafeTarEntryError(rel, 'too many levels of symbolic links');
        const target = await this.calls.readlink(next);
        if (target.startsWith('/')) current = this.root;
        stack.unshift(...target.split('/'));
      } else if (st.isDirectory()) {
        this.knownDirs.add(next);
        current = next;
      } else {
        throw new UnsafeTarEntryError(rel, `${component} is not a directory`);
      }
    }
    return current;
  }
}

/**
 * Unpacks a (possibly compressed) tar stream into `root`. Entries are written one by one as
 * they arrive; a malformed or hostile archive fails with an {@link ArchiveError} (a 4xx), disk
 * full with `no space left on device`. What was written before a failure stays: callers
 * extract into a directory they remove on failure.
 */
export async function extractArchive(
  source: Readable | AsyncIterable<Uint8Array>,
  root: string,
  options: ExtractArchiveOptions,
): Promise<ExtractArchiveResult> {
  const sameOwner = options.sameOwner ?? process.getuid?.() === 0;
  const into = options.into === undefined ? '' : normaliseEntryName(options.into);
  const hash = options.digest ? createHash('sha256') : undefined;
  const extract = tar.extract();
  const calls = options.calls === 'direct' ? directCalls : pooledCalls;
  const resolver = new RootResolver(root, calls);
  const writtenThisLayer = new Set<string>();
  const dirTimes: Array<{ path: string; mtime: Date }> = [];
  const xattrs: Array<{ path: string; name: string; value: Buffer }> = [];
  let contentSize = 0;
  const strip = options.strip ?? 0;
  const stripped = (name: string) => (strip === 0 ? name : name.split('/').slice(strip).join('/'));
  const inRoot = (name: string) => (into === '' ? name : name === '' ? into : posix.join(into, name));

  const consume = async () => {
    for await (const entry of extract) {
      const header = entry.header;
      const name = inRoot(stripped(normaliseEntryName(header.name)));
      if (name === into) {
        entry.resume();
        continue;
      }
      const base = posix.basename(name);
      const parentRel = posix.dirname(name);

      if (options.whiteouts !== 'none' && base.startsWith(WHITEOUT_PREFIX)) {
        entry.resume();
        const parent = await resolver.resolveDir(parentRel);
        if (base === OPAQUE_WHITEOUT) {
          if (options.whiteouts === 'overlay') {
            xattrs.push({ path: parent, name: OVERLAY_OPAQUE_XATTR, value: Buffer.from('y') });
          } else {
            for (const child of await readdir(parent)) {
              const childPath = join(parent, child);
              if (!writtenThisLayer.has(childPath)) {
                resolver.forget(childPath);
                await rm(childPath, { recursive: true, force: true });
              }
            }
          }
          continue;
        }
        const hidden = join(parent, base.slice(WHITEOUT_PREFIX.length));
        resolver.forget(hidden);
        await rm(hidden, { recursive: true, force: true });
        if (options.whiteouts === 'overlay') await mknod(hidden, 'c', 0, 0, 0o000);
        continue;
      }

      const isDevice =
        header.type === 'character-device' || header.type === 'block-device' || header.type === 'fifo';
      if (isDevice && options.devices === 'skip') {
        entry.resume();
        continue;
      }
      const parent = await resolver.resolveDir(parentRel);
      const path = join(parent, base);
      writtenThisLayer.add(path);
      const existing = await calls.lstat(path);
      // The last component is never followed: an existing symlink is replaced, not written through.
      if (existing && !(existing.isDirectory() && header.type === 'directory')) {
        resolver.forget(path);
        await rm(path, { recursive: true, force: true });
      }
      const mode = (header.mode ?? 0o644) & 0o7777;
      const mtime = header.mtime ?? new Date(0);

      switch (header.type) {
        case 'directory':
          if (!existing?.isDirectory()) await calls.mkdir(path);
          resolver.markDir(path);
          dirTimes.push({ path, mtime });
          break;
        case 'file':
        case 'contiguous-file':
          await calls.writeFile(path, mode, header.size ?? 0, entry as AsyncIterable<Buffer>);
          contentSize += header.size ?? 0;
          break;
        case 'symlink':
          await calls.symlink(header.linkname ?? '', path);
          break;
        case 'link':
          await hardLink(
            calls,
            root,
            header.name,
            inRoot(stripped(normaliseEntryName(header.linkname ?? ''))),
            path,
          );
          break;
        case 'character-device':
        case 'block-device':
          await mknod(
            path,
            header.type === 'character-device' ? 'c' : 'b',
            header.devmajor ?? 0,
            header.devminor ?? 0,
            mode,
          );
          break;
        case 'fifo':
          await execa('mkfifo', ['-m', mode.toString(8), '--', path]);
          break;
        default:
          // pax/GNU extension headers are consumed by tar-stream; anything else is unknown.
          entry.resume();
          continue;
      }
      entry.resume();
      // pax `uid`/`gid` records (ids too big for the header's fields) win, as in GNU tar.
      const pax = header.pax as Record<string, string> | undefined;
      const uid = paxId(pax?.uid) ?? header.uid ?? 0;
      const gid = paxId(pax?.gid) ?? header.gid ?? 0;
      options.onEntry?.({ name, uid, gid });
      if (header.type === 'link') continue;
      if (sameOwner) await calls.lchown(path, uid, gid);
      if (header.type !== 'symlink') await calls.chmod(path, mode);
      if (header.type !== 'directory') await calls.lutimes(path, mtime, mtime);
      for (const [key, value] of Object.entries(header.pax ?? {})) {
        if (key.startsWith('SCHILY.xattr.')) {
          xattrs.push({ path, name: key.slice('SCHILY.xattr.'.length), value: Buffer.from(value, 'binary') });
        }
      }
    }
  };

  try {
    const readable = source instanceof Readable ? source : Readable.from(source);
    const input = await decompressStream(readable);
    const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [input];
    if (hash) {
      stages.push(
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            cb(null, chunk);
          },
        }),
      );
    }
    await Promise.all([pipeline([...stages, extract] as unknown as [Readable, tar.Extract]), consume()]);
    await restoreXattrs(xattrs);
    // Directory mtimes last, deepest first: writing children would otherwise bump them.
    for (const { path, mtime } of dirTimes.reverse()) await calls.lutimes(path, mtime, mtime);
  } catch (err) {
    extract.destroy();
    throw archiveFailure(err);
  }
  return { ...(hash ? { diffId: `sha256:${hash.digest('hex')}` as Digest } : {}), contentSize };
}

function paxId(value: string | undefined): number | undefined {
  const id = value === undefined ? Number.NaN : Number(value);
  return Number.isSafeInteger(id) && id >= 0 ? id : undefined;
}

/** A hard link to an entry that already exists inside the root (never outside, never a directory). */
async function hardLink(
  calls: EntryCalls,
  root: string,
  entryName: string,
  linkName: string,
  path: string,
): Promise<void> {
  if (linkName === '') throw new UnsafeTarEntryError(entryName, 'hard link with an empty target');
  // The link's parent directories are followed inside the root; the target itself is not
  // (link(2) does not follow a symlink either: a hard link to a symlink stays one).
  const target = join(
    await resolveWithin(root, posix.dirname(linkName), true, calls),
    posix.basename(linkName),
  );
  const st = await calls.lstat(target);
  if (!st) throw new UnsafeTarEntryError(entryName, `hard link to ${linkName}: no such file or directory`);
  if (st.isDirectory()) throw new UnsafeTarEntryError(entryName, `hard link to ${linkName}: is a directory`);
  await calls.link(target, path);
}
