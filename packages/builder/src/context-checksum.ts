import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { type ContextIndex, type IndexedEntry, digestEntry } from './context-index.js';
import type { ContextSpool } from './context.js';

/**
 * Content checksums of build-context sources (see BuildContext.checksum): one line per entry,
 * `<name>\0<type>\0<octal permissions>[\0<content sha256 or link target>]\n`, hashed one after
 * another; an indexed tar context's lines come from its index, a directory's from the disk.
 */

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Lines and line starts per permission bits, made once each. */
const DIR_LINE: string[] = [];
const FILE_START: string[] = [];

/**
 * An entry's line in a directory checksum after its name (`\0file\0644\0<sha256>\n`; see
 * BuildContext.checksum); undefined for a file whose content hash is not known yet.
 */
export function sumLine(entry: IndexedEntry): string | undefined {
  const perm = entry.perm;
  if (entry.type === 'directory') return (DIR_LINE[perm] ??= `\0dir\0${perm.toString(8)}\n`);
  if (entry.type === 'symlink') return `\0symlink\0${perm.toString(8)}\0${entry.target}\n`;
  if (entry.sha256 === undefined) return undefined;
  return `${(FILE_START[perm] ??= `\0file\0${perm.toString(8)}\0`)}${entry.sha256}\n`;
}

/** A checksum line of a file on disk (a context unpacked, or a directory context). */
export async function diskHeader(abs: string, name: string): Promise<string> {
  const st = await lstat(abs);
  const perm = (st.mode & 0o7777).toString(8);
  if (st.isSymbolicLink()) return `${name}\0symlink\0${perm}\0${await readlink(abs)}\n`;
  if (st.isDirectory()) return `${name}\0dir\0${perm}\n`;
  return `${name}\0file\0${perm}\0${await hashFile(abs)}\n`;
}

/**
 * The digest of the checksum lines of indexed directory `dir`, made in one walk of the index:
 * the lines, in the order, of BuildContext.walk (its non-excluded entries, sorted, depth
 * first). Each line is the entry's name and its {@link sumLine}; a file too large to hash on
 * arrival is hashed from the spool here.
 */
export async function indexedDigest(
  index: ContextIndex,
  dir: string,
  isExcluded: (contextPath: string) => boolean,
  ignore: { empty: boolean; hasExclusions: boolean },
  spool: ContextSpool,
): Promise<string> {
  const self = index.entries.get(dir)!;
  const lines: string[] = [`.${sumLine(self)}`];
  /** Files hashed only when read (large ones): their lines, filled in after the walk. */
  const later: Array<{ at: number; name: string; entry: IndexedEntry }> = [];
  const filter = !ignore.empty;
  const descendExcluded = ignore.hasExclusions;
  const visit = (path: string, rel: string, entry: IndexedEntry) => {
    const names = entry.children!;
    const children = entry.childEntries!;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const child = children[i]!;
      const childRel = rel === '' ? name : `${rel}/${name}`;
      // The context-relative path is made only when .dockerignore has patterns to match.
      const childPath = filter ? (path === '.' ? name : `${path}/${name}`) : '';
      const excluded = filter && isExcluded(childPath);
      if (!excluded) {
        const sum = sumLine(child);
        if (sum === undefined) later.push({ at: lines.length, name: childRel, entry: child });
        lines.push(sum === undefined ? '' : childRel + sum);
      }
      if (child.type === 'directory' && (!excluded || descendExcluded)) visit(childPath, childRel, child);
    }
  };
  visit(dir, '', self);
  if (later.length > 0) {
    const path = await spool.ready();
    for (const { at, name, entry } of later) {
      await digestEntry(path, entry);
      lines[at] = name + sumLine(entry)!;
    }
  }
  const h = createHash('sha256');
  // Hashed in batches: the digest is that of the lines one after another.
  let text = '';
  for (const line of lines) {
    text += line;
    if (text.length >= 1 << 16) {
      h.update(text);
      text = '';
    }
  }
  h.update(text);
  return h.digest('hex');
}

/** Several sources' checksums → the one `created_by` names (`multi:<sha256>` for more than one). */
export function combineChecksums(checksums: readonly string[]): string {
  if (checksums.length === 1) return checksums[0]!;
  return `multi:${sha256(checksums.join(','))}`;
}
