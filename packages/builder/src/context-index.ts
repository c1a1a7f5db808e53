import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { archiveFailure, decompressStream, normaliseEntryName } from '@ts-container/image';
import tar from 'tar-stream';

/**
 * A tar build context read once as it arrives: the raw archive is spooled to one file, and an
 * index of its entries (type, permissions, content sha256) is made on the way. Cache keys come
 * from the index alone, so a build whose steps are all cached never writes the context's files
 * out; the spool is unpacked only when a step that misses the cache needs them.
 */

export interface IndexedEntry {
  type: 'file' | 'directory';
  /** Permission bits as the unpacked file will have them. */
  perm: number;
  /** Hex sha256 of a file's content. */
  sha256?: string;
  /** A directory's entry names, sorted as `readdir().sort()` sorts them. */
  children?: string[];
}

export interface ContextIndex {
  /** Context-relative path (`src/main.c`, `.` for the root) → entry. */
  entries: Map<string, IndexedEntry>;
  /**
   * False when the archive holds something whose unpacked form the index cannot predict (links,
   * a directory only implied by its children, a path given twice): the context is then unpacked
   * at once and read from disk, exactly as before.
   */
  exact: boolean;
  /** Content of the files `capture` asked for (the Dockerfile, .dockerignore). */
  captured: Map<string, Buffer>;
}

/** The unpacked context's root is a fresh `mkdtemp` directory: mode 0700. */
const ROOT_PERM = 0o700;

/** Reads a (possibly compressed) tar stream into `spoolPath`, indexing it on the way. */
export async function spoolTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  spoolPath: string,
  capture: (name: string) => boolean,
): Promise<ContextIndex> {
  const entries = new Map<string, IndexedEntry>([
    ['.', { type: 'directory', perm: ROOT_PERM, children: [] }],
  ]);
  const captured = new Map<string, Buffer>();
  let exact = true;
  const spool = createWriteStream(spoolPath, { highWaterMark: 1 << 20 });
  const tee = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (spool.write(chunk)) cb(null, chunk);
      else spool.once('drain', () => cb(null, chunk));
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

  const consume = async () => {
    for await (const entry of extract) {
      const header = entry.header;
      const name = normaliseEntryName(header.name);
      const perm = (header.mode ?? 0o644) & 0o7777;
      if (name === '') {
        entry.resume();
        continue;
      }
      if (header.type === 'file' || header.type === 'contiguous-file') {
        const hash = createHash('sha256');
        const keep: Buffer[] | undefined = capture(name) ? [] : undefined;
        for await (const chunk of entry) {
          hash.update(chunk as Buffer);
          keep?.push(chunk as Buffer);
        }
        if (keep) captured.set(name, Buffer.concat(keep));
        add(name, { type: 'file', perm, sha256: hash.digest('hex') });
        continue;
      }
      entry.resume();
      if (header.type === 'directory') add(name, { type: 'directory', perm, children: [] });
      // Devices are skipped when unpacking (`devices: 'skip'`), extension headers consumed.
      else if (header.type === 'symlink' || header.type === 'link' || header.type === 'fifo') exact = false;
    }
  };

  // A failed write (a full disk) ends the read with its error; unhandled, it would end the process.
  spool.on('error', (err) => tee.destroy(err));
  try {
    const raw = Readable.from(source);
    raw.once('error', (err) => tee.destroy(err));
    const input = await decompressStream(raw.pipe(tee));
    await Promise.all([pipeline(input, extract), consume()]);
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
