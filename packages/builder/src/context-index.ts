import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { archiveFailure, decompressStream, normaliseEntryName } from '@ts-container/image';
import tar from 'tar-stream';

/**
 * A tar build context read once as it arrives: the (decompressed) archive is spooled to one
 * file, and an index of its entries (type, permissions, times, content sha256, where the content
 * sits in the spool, which names share an inode) is made on the way. Cache keys come from the
 * index alone, and COPY/ADD read the entries they need straight from the spool into the layer
 * (see the engine's build-spool.ts): the context's files are never written out as a tree.
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
  /** Hex sha256 of a file's content. */
  sha256?: string;
  /** A file's content: its byte offset in the spool and its size. */
  offset?: number;
  size?: number;
  /** A symlink's target. */
  target?: string;
  /** Shared by the names of one inode (a file or symlink and its hard links). */
  inode?: IndexedInode;
  /** A directory's entry names, sorted as `readdir().sort()` sorts them. */
  children?: string[];
}

export interface ContextIndex {
  /** Context-relative path (`src/main.c`, `.` for the root) → entry. */
  entries: Map<string, IndexedEntry>;
  /**
   * False when the archive holds something whose unpacked form the index cannot predict (an
   * entry below a symlink, a hard link to a missing entry or a directory, a directory only
   * implied by its children, a path given twice): the context is then unpacked at once, through
   * the safe archive path, and read from disk.
   */
  exact: boolean;
  /** Content of the files `capture` asked for (the Dockerfile, .dockerignore). */
  captured: Map<string, Buffer>;
}

/** The unpacked context's root is a fresh `mkdtemp` directory: mode 0700. */
const ROOT_PERM = 0o700;
/** Pieces of the incoming stream are gathered up to this size before they are written and parsed. */
const GATHER_BYTES = 256 * 1024;
/** lstat's permission bits of a symlink on Linux. */
const SYMLINK_PERM = 0o777;

/**
 * Reads a (possibly compressed) tar stream, decompressed, into `spoolPath`, indexing it on the
 * way (offsets are the decompressed stream's: the spool's).
 */
export async function spoolTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  spoolPath: string,
  capture: (name: string) => boolean,
): Promise<ContextIndex> {
  const entries = new Map<string, IndexedEntry>([
    ['.', { type: 'directory', perm: ROOT_PERM, mtime: new Date(0), children: [] }],
  ]);
  const captured = new Map<string, Buffer>();
  let exact = true;
  const spool = createWriteStream(spoolPath, { highWaterMark: 1 << 20 });
  // Clients send a context in small pieces (the docker CLI writes each tar header on its own):
  // they are gathered into large chunks first, or the spool's writes and the tar parser spend
  // their time per piece.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const forward = (tee: Transform, cb: (err?: Error | null) => void) => {
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    tee.push(chunk);
    if (spool.write(chunk)) cb();
    else spool.once('drain', () => cb());
  };
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= GATHER_BYTES) forward(this, cb);
      else cb();
    },
    flush(cb) {
      if (pendingBytes > 0) forward(this, cb);
      else cb();
    },
  });
  const extract = tar.extract();

  const add = (name: string, entry: IndexedEntry): void => {
    const slash = name.lastIndexOf('/');
    const parent = entries.get(slash < 0 ? '.' : name.slice(0, slash));
    if (entries.has(name) || parent?.type !== 'directory') {
      exact = false;
      return;
    }
    parent.children!.push(slash < 0 ? name : name.slice(slash + 1));
    entries.set(name, entry);
  };

  /** One entry, synchronously: no per-entry async iterator (a context may hold many small files). */
  const onEntry: (...args: tar.ExtractEvents['entry']) => void = (header, stream, next) => {
    // An entry's stream fails with the archive's own error, which the pipeline below reports.
    stream.on('error', () => undefined);
    let name: string;
    try {
      name = normaliseEntryName(header.name);
    } catch (err) {
      // The pipeline rejects with it.
      extract.destroy(err as Error);
      return;
    }
    const perm = (header.mode ?? 0o644) & 0o7777;
    const mtime = header.mtime ?? new Date(0);
    if (name !== '' && (header.type === 'file' || header.type === 'contiguous-file')) {
      // tar-stream records where the entry's data starts in the stream it was fed.
      const offset = (header as { byteOffset?: number }).byteOffset;
      if (offset === undefined) exact = false;
      const hash = createHash('sha256');
      const keep: Buffer[] | undefined = capture(name) ? [] : undefined;
      stream.on('data', (chunk) => {
        hash.update(chunk as Buffer);
        keep?.push(chunk as Buffer);
      });
      stream.once('end', () => {
        if (keep) captured.set(name, Buffer.concat(keep));
        add(name, {
          type: 'file',
          perm,
          mtime,
          sha256: hash.digest('hex'),
          offset: offset ?? 0,
          size: header.size ?? 0,
          inode: { nlink: 1 },
        });
        next();
      });
      return;
    }
    stream.once('end', () => next());
    stream.resume();
    if (name === '') return;
    if (header.type === 'directory') add(name, { type: 'directory', perm, mtime, children: [] });
    else if (header.type === 'symlink') {
      const target = header.linkname ?? '';
      add(name, { type: 'symlink', perm: SYMLINK_PERM, mtime, target, inode: { nlink: 1 } });
    } else if (header.type === 'link') {
      // A second name of an inode already in the archive (its parents are directories: no
      // symlink lies on the way); anything else is left to the safe unpack to judge.
      let first: IndexedEntry | undefined;
      try {
        first = entries.get(normaliseEntryName(header.linkname ?? ''));
      } catch {
        // A link name that climbs out of the context: the safe unpack refuses it.
        first = undefined;
      }
      if (first?.inode === undefined || entries.has(name)) exact = false;
      else {
        add(name, first);
        first.inode.nlink++;
      }
    }
    // Devices and FIFOs are skipped when unpacking (`devices: 'skip'`), extension headers consumed.
  };
  extract.on('entry', onEntry);

  // A failed write (a full disk) ends the read with its error; unhandled, it would end the process.
  spool.on('error', (err) => tee.destroy(err));
  try {
    // A request is read as it is; wrapping it in Readable.from costs an async step per piece.
    const raw = source instanceof Readable ? source : Readable.from(source);
    const input = await decompressStream(raw);
    input.once('error', (err) => tee.destroy(err));
    await pipeline(input, tee, extract);
    await new Promise<void>((resolve, reject) =>
      spool.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  } catch (err) {
    extract.destroy();
    spool.destroy();
    throw archiveFailure(err);
  }
  for (const e of entries.values()) e.children?.sort();
  return { entries, exact, captured };
}
