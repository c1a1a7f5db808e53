import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { extractArchive, resolveInRoot } from '@ts-container/image';
import { diskHeader, indexedDigest, sha256, sumLine } from './context-checksum.js';
import { type ContextIndex, type IndexedEntry, digestEntry, spoolTar } from './context-index.js';
import { PatternMatcher, parseDockerignore } from './dockerignore.js';
import { BuildContextError, PartialContextError } from './errors.js';

/**
 * The build context: the directory (or tar stream) `docker build` sends, with .dockerignore
 * applied. COPY/ADD sources are resolved against it, and their content checksums feed the build
 * cache and the `created_by` history text (`COPY file:<sha256> in /dst `).
 */

export interface ContextSource {
  /** Context-relative `/`-separated path (`src/main.c`); `.` for the whole context. */
  path: string;
  /** Absolute host path. */
  absolute: string;
  type: 'file' | 'directory' | 'symlink';
  /**
   * Set when the source is read from the spooled tar context (no symlink on its way): its
   * entries are read through this, and {@link absolute} does not exist on disk.
   */
  spool?: ContextSpool;
}

/** A spooled tar context's entries, for reading them straight into a layer. */
export interface ContextSpool {
  /**
   * The spool file's path once it holds the whole archive (the decompressed archive; entries'
   * `offset`s point into it). Rejects when the spool could not be written.
   */
  ready(): Promise<string>;
  /** The entry at a context-relative path (`.` the root), read literally (no symlink followed). */
  entry(path: string): IndexedEntry | undefined;
}

/** Characters that make a COPY/ADD source a pattern (Go's filepath.Match syntax). */
export const GLOB_CHARS = /[*?[\\]/;

/** Go's filepath.Match over `/`-separated paths: `*` and `?` stay within one segment. */
export function matchPath(pattern: string, path: string): boolean {
  return pathMatcher(pattern)(path);
}

/** {@link matchPath} compiled once, for testing many paths against one pattern. */
export function pathMatcher(pattern: string): (path: string) => boolean {
  let re = '^';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\') re += (chars[++i] ?? '\\').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else if (ch === '[') {
      const end = chars.indexOf(']', i + 2);
      if (end < 0) return () => false;
      let body = chars.slice(i + 1, end).join('');
      if (body.startsWith('^')) body = `^${body.slice(1)}`;
      re += `[${body}]`;
      i = end;
    } else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  const compiled = new RegExp(`${re}$`, 'u');
  return (path) => compiled.test(path);
}

export interface BuildContextOptions {
  /** The Dockerfile's context-relative path, default `Dockerfile`. */
  dockerfile?: string;
  /** Where a tar context is unpacked (default: the OS temporary directory). */
  tempDir?: string;
  /**
   * Set when the client sent only the files these COPY/ADD sources read (see
   * context-subset.ts): any other source, or one reached through a symlink, fails with
   * {@link PartialContextError}, and the client sends the whole context.
   */
  sentSources?: readonly string[];
}

export class BuildContext {
  private readonly matcher: PatternMatcher;
  /** The sources a partial context was sent for (cleaned); undefined for a whole context. */
  private sentSources: ReadonlySet<string> | undefined;
  /** Unpacks a spooled tar context into {@link root}; undefined once done (or for a directory). */
  private unpack: (() => Promise<void>) | undefined;
  private unpacking: Promise<void> | undefined;

  private constructor(
    /** The directory holding the context (for a tar context: once {@link materialize}d). */
    readonly root: string,
    /** The .dockerignore patterns in effect. */
    readonly ignorePatterns: readonly string[],
    readonly dockerfilePath: string,
    private readonly cleanup: (() => Promise<void>) | undefined,
    /** The tar context's index: entries are looked up and checksummed without the disk. */
    private readonly index?: ContextIndex,
    unpack?: () => Promise<void>,
    spoolPath?: string,
    /** The spool's last write (see SpooledContext.written). */
    private readonly written?: Promise<void>,
  ) {
    this.matcher = new PatternMatcher(ignorePatterns);
    this.unpack = unpack;
    const entries = index?.entries;
    if (entries && spoolPath !== undefined) {
      const ready = async () => {
        await written;
        return spoolPath;
      };
      this.spool = { ready, entry: (p) => entries.get(p) };
    }
  }

  private readonly spool: ContextSpool | undefined;

  /** A context that is a directory on this host (not copied; read in place). */
  static async fromDirectory(dir: string, options: BuildContextOptions = {}): Promise<BuildContext> {
    const st = await lstat(dir).catch(() => undefined);
    if (!st?.isDirectory())
      throw new BuildContextError(`unable to prepare context: path "${dir}" not found`, 'not-found');
    return new BuildContext(dir, await readIgnore(dir), options.dockerfile ?? 'Dockerfile', undefined);
  }

  /**
   * A context sent as a tar stream (what the Docker API's POST /build receives). It is spooled
   * to one file and indexed as it arrives (see context-index.ts); sources are read from the
   * spool. Only an archive the index cannot predict, or a source reached through a symlink, has
   * the context unpacked into a temporary directory ({@link materialize}), every entry resolved
   * inside it. {@link close} removes both.
   */
  static async fromTar(
    tar: AsyncIterable<Uint8Array> | Buffer,
    options: BuildContextOptions = {},
  ): Promise<BuildContext> {
    // The directory is made only if the context has to be unpacked (mode 0700, as mkdtemp's).
    const dir = join(options.tempDir ?? tmpdir(), `ts-container-context-${randomBytes(8).toString('hex')}`);
    const spool = `${dir}.tar`;
    let unpacked = false;
    const cleanup = async () => {
      // The directory exists only once unpacked; the spool is one file (an unlink, no walk).
      if (unpacked) await rm(dir, { recursive: true, force: true });
      await unlink(spool).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
    };
    const dockerfile = options.dockerfile ?? 'Dockerfile';
    const wanted = new Set([cleanSource(dockerfile), 'dockerfile', '.dockerignore']);
    let written: Promise<void> | undefined;
    const unpack = async () => {
      await written;
      unpacked = true;
      await mkdir(dir, { mode: 0o700 });
      await extractArchive(createReadStream(spool), dir, {
        whiteouts: 'none',
        devices: 'skip',
        sameOwner: false,
      });
    };
    try {
      const index = await spoolTar(Buffer.isBuffer(tar) ? [tar] : tar, spool, (name) => wanted.has(name));
      written = index.written;
      let context: BuildContext;
      if (!index.exact) {
        await unpack();
        context = new BuildContext(dir, await readIgnore(dir), dockerfile, cleanup);
      } else {
        const ignore = index.captured.get('.dockerignore');
        const patterns = ignore === undefined ? [] : parseDockerignore(ignore.toString('utf8'));
        context = new BuildContext(dir, patterns, dockerfile, cleanup, index, unpack, spool, written);
      }
      if (options.sentSources) context.sentSources = new Set(options.sentSources.map(cleanSource));
      return context;
    } catch (e) {
      await written?.catch(() => undefined);
      await cleanup();
      throw e;
    }
  }

  /** Makes the context's files exist under {@link root} (a tar context is unpacked once, on first need). */
  async materialize(): Promise<void> {
    if (this.unpack === undefined) return;
    this.unpacking ??= this.unpack();
    await this.unpacking;
    this.unpack = undefined;
  }

  async close(): Promise<void> {
    // A failed spool write was reported to each reader of the spool (ready); a build that read
    // nothing from it did not need it. Either way the spool goes once nothing writes it.
    await this.written?.catch(() => undefined);
    await this.cleanup?.();
  }

  /**
   * Reads the Dockerfile (even when .dockerignore excludes it, as Docker does); `path` reads
   * another context file instead (the lower-case `dockerfile` Docker also accepts).
   */
  async readDockerfile(path = this.dockerfilePath): Promise<string> {
    const rel = cleanSource(path);
    const captured = this.index?.captured.get(rel);
    if (captured !== undefined) return captured.toString('utf8');
    try {
      if (this.index) throw new Error('not in the context');
      return await readFile(await resolveInRoot(this.root, rel), 'utf8');
    } catch {
      throw new BuildContextError(`Cannot locate specified Dockerfile: ${path}`, 'not-found');
    }
  }

  /** Whether .dockerignore excludes a context-relative path. */
  isExcluded(path: string): boolean {
    if (this.matcher.empty) return false;
    const clean = cleanSource(path);
    return clean !== '.' && this.matcher.matches(clean);
  }

  /**
   * COPY/ADD sources → context entries. Wildcards match like Go's filepath.Match; a missing or
   * excluded source fails with Docker's message.
   */
  async resolveSources(sources: readonly string[], instruction = 'COPY'): Promise<ContextSource[]> {
    const out: ContextSource[] = [];
    let all: string[] | undefined;
    for (const src of sources) {
      const clean = cleanSource(src);
      const relative = posix.normalize(src.replace(/^\/+/, ''));
      if (relative === '..' || relative.startsWith('../')) {
        throw new BuildContextError(
          `${instruction} failed: forbidden path outside the build context: ${src} ()`,
        );
      }
      if (this.sentSources && !this.sentSources.has(clean)) throw new PartialContextError(src);
      if (GLOB_CHARS.test(clean)) {
        all ??= await this.walk('.');
        const match = pathMatcher(clean);
        const hits = all.filter(match);
        for (const p of hits) out.push(await this.entry(p));
        continue;
      }
      const entry =
        clean === '.'
          ? await this.entry('.')
          : await this.entry(clean).catch((e: unknown) => {
              if (e instanceof PartialContextError) throw e;
              return undefined;
            });
      if (!entry || this.isExcluded(clean)) {
        throw new BuildContextError(
          `${instruction} failed: file not found in build context or excluded by .dockerignore: stat ${clean}: file does not exist`,
          'not-found',
        );
      }
      out.push(entry);
    }
    if (out.length === 0)
      throw new BuildContextError(`${instruction} failed: no source files were specified`);
    return out;
  }

  /** A context path's entry; symlinks on the way are followed inside the context, never out of it. */
  private async entry(path: string): Promise<ContextSource> {
    if (this.index && this.spool) {
      const absolute = path === '.' ? this.root : join(this.root, path);
      const e = this.index.entries.get(path);
      if (e) return { path, absolute, type: e.type, spool: this.spool };
      // Not an entry of its own: missing, or reached through a symlink, which is followed on
      // disk (inside the context) once the context is unpacked.
      if (!this.throughSymlink(path))
        throw new BuildContextError(`stat ${path}: file does not exist`, 'not-found');
      // The symlink's target may be a file the client did not send.
      if (this.sentSources) throw new PartialContextError(path);
      await this.materialize();
    } else if (this.sentSources) await this.refuseSymlinksAbove(path);
    const absolute = path === '.' ? this.root : await resolveInRoot(this.root, path, false);
    const st = await lstat(absolute);
    const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : 'file';
    return { path, absolute, type };
  }

  /** In a partial context on disk: a path below a symlink may lead to a file that was not sent. */
  private async refuseSymlinksAbove(path: string): Promise<void> {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const st = await lstat(join(this.root, ...parts.slice(0, i))).catch(() => undefined);
      if (st === undefined) return;
      if (st.isSymbolicLink()) throw new PartialContextError(path);
    }
  }

  /** Whether a path that is not an index entry leads through a symlink of the context. */
  private throughSymlink(path: string): boolean {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const e = this.index?.entries.get(parts.slice(0, i).join('/'));
      if (e?.type === 'symlink') return true;
      if (e?.type !== 'directory') return false;
    }
    return false;
  }

  /**
   * Every non-excluded context-relative path under `dir`, sorted, directories included; `absDir`
   * is where `dir` is on disk when it was reached through a symlink (resolved inside the context).
   * `enter` prunes: a directory it refuses is listed but not entered.
   */
  async walk(dir: string, absDir?: string, enter?: (path: string) => boolean): Promise<string[]> {
    const out: string[] = [];
    const index = this.index;
    // An excluded directory is still entered when a `!` pattern could re-include something in it.
    const entered = (path: string, excluded: boolean) =>
      (!excluded || this.matcher.hasExclusions) && (enter === undefined || enter(path));
    if (index?.entries.get(dir)?.type === 'directory') {
      const visitIndexed = (rel: string) => {
        for (const name of index.entries.get(rel)?.children ?? []) {
          const child = rel === '.' ? name : `${rel}/${name}`;
          const excluded = this.isExcluded(child);
          if (!excluded) out.push(child);
          if (index.entries.get(child)?.type === 'directory' && entered(child, excluded)) visitIndexed(child);
        }
      };
      visitIndexed(dir);
      return out;
    }
    const base = absDir ?? (dir === '.' ? this.root : join(this.root, dir));
    const visit = async (rel: string) => {
      const abs = rel === dir ? base : join(base, rel.slice(dir === '.' ? 0 : dir.length + 1));
      // The entries' types come with the names (no lstat each); a symlink is not followed.
      const entries = await readdir(abs, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const child = rel === '.' ? entry.name : `${rel}/${entry.name}`;
        const excluded = this.isExcluded(child);
        if (!excluded) out.push(child);
        if (entry.isDirectory() && entered(child, excluded)) await visit(child);
      }
    };
    await visit(dir);
    return out;
  }

  /**
   * A stable content checksum of one source: `file:<sha256>` over name, permissions and
   * content; `dir:<sha256>` over every non-excluded entry below it (path, type, permissions,
   * content or link target). Owners and timestamps are left out, as Docker leaves them out.
   */
  async checksum(source: ContextSource): Promise<string> {
    const index = source.spool === undefined ? undefined : this.index;
    const spool = source.spool;
    // Synchronous for an indexed entry whose content hash is known: no await per entry.
    const header = (abs: () => string, name: string, rel: string): string | Promise<string> => {
      const indexed = index?.entries.get(rel);
      if (indexed === undefined) return diskHeader(abs(), name);
      const sum = sumLine(indexed);
      if (sum !== undefined) return name + sum;
      return spool!
        .ready()
        .then((path) => digestEntry(path, indexed))
        .then(() => name + sumLine(indexed)!);
    };
    if (source.type !== 'directory') {
      return `file:${sha256(await header(() => source.absolute, posix.basename(source.path), source.path))}`;
    }
    if (index !== undefined && spool !== undefined)
      return `dir:${await indexedDigest(index, source.path, (p) => this.isExcluded(p), this.matcher, spool)}`;
    const h = createHash('sha256');
    // The lines are hashed in batches: the digest is that of the lines one after another.
    let text = await header(() => source.absolute, '.', source.path);
    const prefix = source.path === '.' ? '' : `${source.path}/`;
    const walked = await this.walk(source.path, source.absolute);
    for (const p of walked) {
      const rel = p.slice(prefix.length);
      const line = header(() => join(source.absolute, rel), rel, p);
      text += typeof line === 'string' ? line : await line;
      if (text.length >= 1 << 16) {
        h.update(text);
        text = '';
      }
    }
    h.update(text);
    return `dir:${h.digest('hex')}`;
  }
}

export { combineChecksums } from './context-checksum.js';

/** A context-relative source path, cleaned; a leading `/` means the context root. */
export function cleanSource(src: string): string {
  const clean = posix.normalize(`/${src}`).slice(1).replace(/\/+$/, '');
  return clean === '' ? '.' : clean;
}

async function readIgnore(dir: string): Promise<string[]> {
  try {
    return parseDockerignore(await readFile(await resolveInRoot(dir, '.dockerignore'), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BuildContextError(`error reading .dockerignore: ${(e as Error).message}`, 'system', {
      cause: e,
    });
  }
}
