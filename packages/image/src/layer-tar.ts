import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import tar from 'tar-stream';
import { decompressStream } from './compression.js';
import type { Digest } from './digest.js';
import { UnsafeTarEntryError } from './errors.js';
import { type LayerScan, extractWithTar, isEmptyDir, rereadablePath, scanLayer } from './fast-extract.js';

/** OCI image-spec layer.md: a whiteout file hides NAME from lower layers. */
export const WHITEOUT_PREFIX = '.wh.';
/** OCI image-spec layer.md: an opaque whiteout hides every lower entry of its directory. */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export interface ApplyLayerOptions {
  /**
   * `overlay`: keep whiteouts in overlayfs' own form (a 0/0 character device, the opaque
   * xattr) so the directory can serve as an overlay lower layer.
   * `apply`: carry the deletions out on the target, flattening the layer onto it.
   */
  whiteouts: 'overlay' | 'apply';
  /** Restore uid/gid from the archive; defaults to true when running as root. */
  sameOwner?: boolean;
  /**
   * `auto` (default): an overlay layer read from a file into an empty directory is pre-scanned
   * in JavaScript and, when every entry checks out, extracted by GNU tar (several times
   * faster); anything unusual takes the JavaScript extractor. `javascript` always does.
   */
  extractor?: 'auto' | 'javascript';
}

export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar stream: the layer's DiffID. */
  diffId: Digest;
  /** Bytes of file content the layer holds (what `docker history` shows as SIZE). */
  contentSize: number;
}

const MAX_SYMLINK_HOPS = 40;

/**
 * Unpacks a (possibly gzip-compressed) layer tarball onto `target`. Every path is resolved
 * inside `target` as if it were the root, so no `..`, absolute path, symlink or hard link in a
 * hostile archive can reach a file outside it.
 */
export async function applyLayer(
  source: Readable,
  target: string,
  options: ApplyLayerOptions,
): Promise<ApplyLayerResult> {
  const sameOwner = options.sameOwner ?? process.getuid?.() === 0;
  const path = rereadablePath(source);
  if (
    path !== undefined &&
    options.whiteouts === 'overlay' &&
    options.extractor !== 'javascript' &&
    (await isEmptyDir(target))
  ) {
    let scan: LayerScan | undefined;
    try {
      scan = await scanLayer(path);
    } catch (err) {
      source.destroy();
      throw err;
    }
    if (scan !== undefined) {
      source.destroy();
      try {
        await extractWithTar(path, target, scan, {
          sameOwner,
          setOpaque: (dirs) =>
            restoreXattrs(
              dirs.map((d) => ({ path: d, name: OVERLAY_OPAQUE_XATTR, value: Buffer.from('y') })),
            ),
        });
        return { diffId: scan.diffId, contentSize: scan.contentSize };
      } catch {
        // GNU tar disagreed with the archive (or is missing): start over the careful way.
        for (const child of await readdir(target))
          await rm(join(target, child), { recursive: true, force: true });
        return applyLayerJs(createReadStream(path), target, options, sameOwner);
      }
    }
  }
  return applyLayerJs(source, target, options, sameOwner);
}

async function applyLayerJs(
  source: Readable,
  target: string,
  options: ApplyLayerOptions,
  sameOwner: boolean,
): Promise<ApplyLayerResult> {
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const extract = tar.extract();
  const resolver = new RootResolver(target);
  const writtenThisLayer = new Set<string>();
  const dirTimes: Array<{ path: string; mtime: Date }> = [];
  const xattrs: Array<{ path: string; name: string; value: Buffer }> = [];
  let contentSize = 0;

  const consume = (async () => {
    for await (const entry of extract) {
      const header = entry.header;
      const name = normaliseEntryName(header.name);
      if (name === '') {
        entry.resume();
        continue;
      }
      const base = posix.basename(name);
      const parentRel = posix.dirname(name);

      if (base.startsWith(WHITEOUT_PREFIX)) {
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

      const parent = await resolver.resolveDir(parentRel);
      const path = join(parent, base);
      writtenThisLayer.add(path);
      const existing = await lstatOrUndefined(path);
      if (existing && !(existing.isDirectory() && header.type === 'directory')) {
        resolver.forget(path);
        await rm(path, { recursive: true, force: true });
      }
      const mode = (header.mode ?? 0o644) & 0o7777;
      const mtime = header.mtime ?? new Date(0);

      switch (header.type) {
        case 'directory':
          if (!existing?.isDirectory()) await mkdir(path);
          resolver.markDir(path);
          dirTimes.push({ path, mtime });
          break;
        case 'file':
        case 'contiguous-file':
          await pipeline(entry, createWriteStream(path, { mode, highWaterMark: 1 << 20 }));
          contentSize += header.size ?? 0;
          break;
        case 'symlink':
          await symlink(header.linkname ?? '', path);
          break;
        case 'link': {
          const linkName = normaliseEntryName(header.linkname ?? '');
          if (linkName === '') throw new UnsafeTarEntryError(header.name, 'hard link with an empty target');
          const linkTarget = join(
            await resolver.resolveDir(posix.dirname(linkName)),
            posix.basename(linkName),
          );
          await link(linkTarget, path);
          break;
        }
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
      if (header.type === 'link') continue;
      if (sameOwner) await lchown(path, header.uid ?? 0, header.gid ?? 0);
      if (header.type !== 'symlink') await chmod(path, mode);
      if (header.type !== 'directory') await lutimes(path, mtime, mtime);
      for (const [key, value] of Object.entries(header.pax ?? {})) {
        if (key.startsWith('SCHILY.xattr.')) {
          xattrs.push({ path, name: key.slice('SCHILY.xattr.'.length), value: Buffer.from(value, 'binary') });
        }
      }
    }
  })();

  const input = await decompressStream(source);
  await Promise.all([pipeline(input, hashing, extract), consume]);
  await restoreXattrs(xattrs);
  // Directory mtimes last, deepest first: writing children would otherwise bump them.
  for (const { path, mtime } of dirTimes.reverse()) await lutimes(path, mtime, mtime);
  return { diffId: `sha256:${hash.digest('hex')}`, contentSize };
}

/** Strips `./` and leading `/`; rejects names that climb above the root with `..`. */
export function normaliseEntryName(name: string): string {
  const cleaned = posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
  if (cleaned === '.') return '';
  if (name.split('/').includes('..')) {
    const depthCheck = posix.normalize(name.replace(/^\/+/, ''));
    if (depthCheck === '..' || depthCheck.startsWith('../')) {
      throw new UnsafeTarEntryError(name, 'path escapes the layer root');
    }
  }
  return cleaned;
}

/**
 * Resolves archive paths inside a root directory, following symlinks the way the
 * container would see them (an absolute link target means the root), never outside.
 */
class RootResolver {
  private readonly knownDirs = new Set<string>();

  constructor(private readonly root: string) {
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

  /** Resolves (and creates, like tar does) the directory `rel` inside the root. */
  async resolveDir(rel: string): Promise<string> {
    if (rel === '.' || rel === '') return this.root;
    const direct = join(this.root, rel);
    if (this.knownDirs.has(direct)) return direct;
    return this.walk(rel.split('/'), 0);
  }

  private async walk(components: string[], hops: number): Promise<string> {
    let current = this.root;
    const stack = [...components];
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
      const st = await lstatOrUndefined(next);
      if (st === undefined) {
        await mkdir(next, { mode: 0o755 });
        this.knownDirs.add(next);
        current = next;
      } else if (st.isSymbolicLink()) {
        if (hops >= MAX_SYMLINK_HOPS)
          throw new UnsafeTarEntryError(components.join('/'), 'too many levels of symbolic links');
        hops++;
        const targetPath = await readlink(next);
        if (targetPath.startsWith('/')) current = this.root;
        stack.unshift(...targetPath.split('/'));
      } else if (st.isDirectory()) {
        this.knownDirs.add(next);
        current = next;
      } else {
        throw new UnsafeTarEntryError(components.join('/'), `${component} is not a directory`);
      }
    }
    return current;
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function mknod(
  path: string,
  type: 'c' | 'b',
  major: number,
  minor: number,
  mode: number,
): Promise<void> {
  await execa('mknod', ['-m', mode.toString(8), '--', path, type, String(major), String(minor)]);
}

/** Node has no xattr call: hand all of a layer's attributes to one `setfattr --restore`. */
async function restoreXattrs(xattrs: Array<{ path: string; name: string; value: Buffer }>): Promise<void> {
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
