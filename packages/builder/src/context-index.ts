import * as nodeCrypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  ArchiveError,
  type ScannedHeader,
  TarHeaderWalker,
  archiveFailure,
  decompressStream,
  detectCompression,
  normaliseEntryName,
} from '@ts-container/image';
import { SpoolWriter } from './spool-writer.js';

/**
 * A tar build context read once as it arrives: the (decompressed) archive is spooled to one
 * file, and an index of its entries (type, permissions, times, content sha256, where the content
 * sits in the spool, which names share an inode) is made on the way. Cache keys come from the
 * index alone, and COPY/ADD read the entries they need straight from the spool into the layer
 * (see the engine's build-spool.ts): the context's files are never written out as a tree.
 *
 * The incoming pieces are written to the spool in batches as they are (no copy), and walked by
 * the image package's header walker, which hands over file bodies without a stream per entry.
 * Small files are hashed from those pieces as they pass; a large one only when a COPY or ADD
 * reads it ({@link digestEntry}), so a big file nobody copies is never hashed.
 */

/** The inode a file or symlink and its hard links share: `nlink` names point at it. */
export interface IndexedInode {
  nlink: number;
}

export interface IndexedEntry {
  type: 'file' | 'directory' | 'symlink';
  /** Permission bits as the unpacked entry would have them (0o777 for a symlink). */
  perm: number;
  /** Modification time from the archive (the unpacked entry's atime and mtime). */
  mtime: Date;
  /**
   * Hex sha256 of a file's content: set on arrival for files up to {@link INLINE_HASH_MAX}
   * bytes; a larger file's is made by {@link digestEntry} when first asked for.
   */
  sha256?: string;
  /** A file's content: its byte offset in the spool and its size. */
  offset?: number;
  size?: number;
  /** A symlink's target. */
  target?: string;
  /**
   * Shared by the names of one inode (a file or symlink and its hard links); set once a hard
   * link gives it a second name (an entry without one has one name).
   */
  inode?: IndexedInode;
  /** A directory's entry names, sorted as `readdir().sort()` sorts them. */
  children?: string[];
  /** A directory's entries, in the order of {@link children}. */
  childEntries?: IndexedEntry[];
}

export interface ContextIndex {
  /** Context-relative path (`src/main.c`, `.` for the root) → entry. */
  entries: Map<string, IndexedEntry>;
  /**
   * False when the archive holds something whose unpacked form the index cannot predict (an
   * entry below a symlink, a hard link to a missing entry or a directory, a directory only
   * implied by its children, a path given twice, a header the walker does not take): the
   * context is then unpacked at once, through the safe archive path, which also reports a
   * malformed archive.
   */
  exact: boolean;
  /** Content of the files `capture` asked for (the Dockerfile, .dockerignore). */
  captured: Map<string, Buffer>;
}

/** The unpacked context's root is a fresh `mkdtemp` directory: mode 0700. */
const ROOT_PERM = 0o700;
/** lstat's permission bits of a symlink on Linux. */
const SYMLINK_PERM = 0o777;
/** Files up to this size are hashed as they arrive; larger ones when a step reads them. */
export const INLINE_HASH_MAX = 1 << 20;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sha256Hex: (data: Buffer) => string =
  typeof nodeCrypto.hash === 'function'
    ? (data) => nodeCrypto.hash('sha256', data, 'hex')
    : (data) => nodeCrypto.createHash('sha256').update(data).digest('hex');

/** A context read by {@link spoolTar}: its index, and the spool file being written out. */
export interface SpooledContext extends ContextIndex {
  /**
   * Settles once the spool file holds the whole archive (its last batch written and the file
   * closed): only a reader of the spool waits for it, so a build that reads nothing from the
   * context (every step cached) does not wait for the last write.
   */
  written: Promise<void>;
}

/**
 * Reads a (possibly compressed) tar stream, decompressed, into `spoolPath`, indexing it on the
 * way (offsets are the decompressed stream's: the spool's). Returns when the last piece is
 * indexed; the spool's last write may still be under way (see {@link SpooledContext.written}).
 */
export async function spoolTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  spoolPath: string,
  capture: (name: string) => boolean,
): Promise<SpooledContext> {
  const indexer = new ContextIndexer(capture);
  const file = await open(spoolPath, 'wx', 0o600);
  const spool = new SpoolWriter(file);
  const closed = async () => {
    await spool.settle();
    await file.close();
  };
  let index: ContextIndex;
  try {
    for await (const chunk of uncompressed(source)) {
      indexer.push(chunk);
      const wait = spool.write(chunk);
      if (wait) await wait;
    }
    index = indexer.finish();
  } catch (err) {
    await closed();
    throw archiveFailure(err);
  }
  const written = spool.flush().then(closed, async (err: unknown) => {
    await closed();
    throw archiveFailure(err);
  });
  // Awaited by each reader of the spool and before it is removed; marked handled until then.
  written.catch(() => undefined);
  return { ...index, written };
}

/** A file entry's sha256, from the spool when it was too large to hash on arrival (kept on the entry). */
export async function digestEntry(spoolPath: string, entry: IndexedEntry): Promise<string> {
  if (entry.sha256 !== undefined) return entry.sha256;
  const hash = nodeCrypto.createHash('sha256');
  const size = entry.size ?? 0;
  if (size > 0) {
    const start = entry.offset ?? 0;
    const stream = createReadStream(spoolPath, { start, end: start + size - 1, highWaterMark: 1 << 20 });
    for await (const chunk of stream) hash.update(chunk as Buffer);
  }
  entry.sha256 = hash.digest('hex');
  return entry.sha256;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * The source's pieces, decompressed. An uncompressed stream (what the docker CLI sends) is
 * passed through as it comes, without a stream in between.
 */
async function* uncompressed(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): AsyncGenerator<Buffer, void, undefined> {
  const it: AsyncIterator<Uint8Array> | Iterator<Uint8Array> =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  // Stopped early (a refused entry), the source is left as it is, unread: the request's
  // owner answers and drops the rest, as with any unread body.
  let done = false;
  const head: Buffer[] = [];
  let size = 0;
  while (size < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = asBuffer(r.value);
    if (b.length === 0) continue;
    head.push(b);
    size += b.length;
  }
  const first = head.length === 1 ? head[0]! : Buffer.concat(head);
  const rest = async function* (): AsyncGenerator<Buffer, void, undefined> {
    if (first.length > 0) yield first;
    while (!done) {
      const r = await it.next();
      if (r.done) done = true;
      else yield asBuffer(r.value);
    }
  };
  if (detectCompression(first) === 'none') {
    yield* rest();
    return;
  }
  for await (const chunk of await decompressStream(Readable.from(rest(), { objectMode: false })))
    yield chunk as Buffer;
}

/** A file entry whose body is passing. */
interface OpenFile {
  name: string;
  entry: IndexedEntry;
  left: number;
  /** Hash the body on arrival (small files). */
  inline: boolean;
  hash?: nodeCrypto.Hash;
  /** The body's pieces, for a captured file. */
  keep?: Buffer[];
}

/** Builds the {@link ContextIndex} from the headers and bodies the walker hands over. */
class ContextIndexer {
  private readonly root: IndexedEntry = {
    type: 'directory',
    perm: ROOT_PERM,
    mtime: new Date(0),
    children: [],
    childEntries: [],
  };
  readonly entries = new Map<string, IndexedEntry>([['.', this.root]]);
  /** The directory {@link parentOf} found last. */
  private lastDir: { path: string; entry: IndexedEntry } | undefined;
  /** Directories whose children did not arrive in sorted order. */
  private readonly unsorted = new Set<IndexedEntry>();
  readonly captured = new Map<string, Buffer>();
  private exact = true;
  private file: OpenFile | undefined;
  private readonly walker = new TarHeaderWalker(
    (h) => this.visit(h),
    (b) => this.body(b),
  );

  constructor(private readonly capture: (name: string) => boolean) {}

  push(chunk: Buffer): void {
    this.walker.push(chunk);
  }

  finish(): ContextIndex {
    // A header the walker cannot read is judged by the safe unpack (tar-stream), which
    // reports a malformed archive in its words; so are bytes after the end block.
    if (this.walker.invalid || this.walker.trailing) this.exact = false;
    else if (!this.walker.atBoundary) throw new ArchiveError('unexpected EOF');
    for (const dir of this.unsorted) sortChildren(dir);
    return { entries: this.entries, exact: this.exact, captured: this.captured };
  }

  private add(name: string, entry: IndexedEntry): void {
    const slash = name.lastIndexOf('/');
    const parent = this.parentOf(name, slash);
    if (parent?.type !== 'directory' || this.entries.has(name)) {
      this.exact = false;
      return;
    }
    const base = slash < 0 ? name : name.slice(slash + 1);
    const children = parent.children!;
    const last = children[children.length - 1];
    if (last !== undefined && !(last < base)) this.unsorted.add(parent);
    children.push(base);
    parent.childEntries!.push(entry);
    this.entries.set(name, entry);
  }

  /**
   * The entry of `name`'s directory (its path ends at `slash`): the entries of one directory
   * mostly come one after another, so the last one found is tried before the map.
   */
  private parentOf(name: string, slash: number): IndexedEntry | undefined {
    if (slash < 0) return this.root;
    const last = this.lastDir;
    if (last !== undefined && last.path.length === slash && name.startsWith(last.path)) return last.entry;
    const path = name.slice(0, slash);
    const entry = this.entries.get(path);
    if (entry?.type === 'directory') this.lastDir = { path, entry };
    return entry;
  }

  private visit(h: ScannedHeader): void {
    // pax global headers apply to later entries in tar-stream; unknown magics it refuses.
    if (h.global || h.format === 'other') this.exact = false;
    // Throws for a name that climbs out of the context: the whole upload is refused.
    const name = normaliseEntryName(h.name);
    if (name === '') return;
    const perm = h.mode & 0o7777;
    const mtime = h.mtime;
    switch (h.type) {
      case 'file':
      case 'contiguous-file': {
        const entry: IndexedEntry = {
          type: 'file',
          perm,
          mtime,
          offset: h.end - Math.ceil(h.size / 512) * 512,
          size: h.size,
        };
        this.add(name, entry);
        const keep = this.capture(name);
        if (h.size === 0) {
          entry.sha256 = EMPTY_SHA256;
          if (keep) this.captured.set(name, Buffer.alloc(0));
        } else {
          this.file = { name, entry, left: h.size, inline: h.size <= INLINE_HASH_MAX };
          if (keep) this.file.keep = [];
        }
        return;
      }
      case 'directory': {
        const entry: IndexedEntry = { type: 'directory', perm, mtime, children: [], childEntries: [] };
        this.add(name, entry);
        return;
      }
      case 'symlink': {
        const entry: IndexedEntry = {
          type: 'symlink',
          perm: SYMLINK_PERM,
          mtime,
          target: h.linkname,
        };
        this.add(name, entry);
        return;
      }
      case 'link': {
        // A second name of an inode already in the archive (its parents are directories: no
        // symlink lies on the way); anything else is left to the safe unpack to judge.
        let first: IndexedEntry | undefined;
        try {
          first = this.entries.get(normaliseEntryName(h.linkname));
        } catch {
          // A link name that climbs out of the context: the safe unpack refuses it.
          first = undefined;
        }
        if (first === undefined || first.type === 'directory' || this.entries.has(name)) this.exact = false;
        else {
          this.add(name, first);
          first.inode ??= { nlink: 1 };
          first.inode.nlink++;
        }
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        // Skipped when unpacking (`devices: 'skip'`).
        return;
      default:
        this.exact = false;
    }
  }

  private body(chunk: Buffer): void {
    const f = this.file;
    if (f === undefined) return;
    f.left -= chunk.length;
    f.keep?.push(chunk);
    if (f.inline) {
      // Most small files arrive in one piece: hashed in one call.
      if (f.hash === undefined && f.left === 0) f.entry.sha256 = sha256Hex(chunk);
      else {
        f.hash ??= nodeCrypto.createHash('sha256');
        f.hash.update(chunk);
        if (f.left === 0) f.entry.sha256 = f.hash.digest('hex');
      }
    }
    if (f.left === 0) {
      if (f.keep) this.captured.set(f.name, Buffer.concat(f.keep));
      this.file = undefined;
    }
  }
}

/** Sorts a directory's children (and their entries with them) as `readdir().sort()` sorts names. */
function sortChildren(dir: IndexedEntry): void {
  const names = dir.children!;
  const entries = dir.childEntries!;
  const order = names
    .map((_, i) => i)
    .sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : 0));
  dir.children = order.map((i) => names[i]!);
  dir.childEntries = order.map((i) => entries[i]!);
}
