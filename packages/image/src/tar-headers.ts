/** One entry header of a plain tarball, as the pre-scan sees it. */
export interface ScannedHeader {
  name: string;
  type: string;
  size: number;
  mtime: Date;
  linkname: string;
  /** Permission and mode bits of the header. */
  mode: number;
  /** `ustar` (POSIX), `gnu`, or `other`: a magic the careful extractor (tar-stream) refuses. */
  format: 'ustar' | 'gnu' | 'other';
  xattrs: boolean;
  /** Where the entry's first (extended) header starts and its body ends, in the tarball. */
  start: number;
  end: number;
  /** A pax global header came before it. */
  global: boolean;
}

const TYPES: Record<string, string> = {
  '0': 'file',
  '\0': 'file',
  '7': 'contiguous-file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

/**
 * Walks the entry headers of a plain tarball fed chunk by chunk, skipping file bodies
 * (tar-stream's per-entry streams cost more than the extraction they guard), and hands each
 * header to `visit`, and the body of each regular file, as it passes, to `body`. Bodies are
 * skipped as tar-stream skips them (every type but a directory carries `size` bytes), and a
 * `0` entry whose name ends in `/` is a directory, as there. A block whose checksum is wrong
 * ends the walk as `invalid`: such a stream is left to the careful extractor, which reports it.
 */
export class TarHeaderWalker {
  /** The walk saw a header that is not one (not a tar, or a corrupt one). */
  invalid = false;
  private skip = 0;
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private want = 512;
  // What the bytes being gathered are: a header, or the body of a pax / GNU long-name entry.
  private gathering: 'header' | 'x' | 'L' | 'K' = 'header';
  private extended: Record<string, string> = {};
  // Whether `extended` holds anything (most entries have no extension header).
  private extendedAny = false;
  private ended = false;
  private global = false;
  // Offsets in the tarball: of the bytes taken so far, and of the current entry's first header.
  private position = 0;
  private entryStart: number | undefined;
  // Bytes of the current regular file's body still to hand to `body`.
  private bodyLeft = 0;
  // The padding that ends the current entry's body (0 once the walk is past it).
  private padAfterBody = 0;
  /** Something other than zeros came after the end block (tar-stream would read on). */
  trailing = false;

  constructor(
    private readonly visit: (h: ScannedHeader) => void,
    private readonly body?: (chunk: Buffer) => void,
  ) {}

  /** Whether more bytes can change anything (false after the end blocks or a bad header). */
  get open(): boolean {
    return !this.ended && !this.invalid;
  }

  /**
   * How many of the next bytes the walker would pass over unseen (the rest of an entry's body
   * when no `body` callback takes it): the caller may {@link advance} over them instead of
   * pushing them.
   */
  get skippable(): number {
    return this.body !== undefined && this.bodyLeft > 0 ? 0 : this.skip;
  }

  /** Takes `n` (at most {@link skippable}) bytes as passed over, without being given them. */
  advance(n: number): void {
    if (!(n >= 0 && n <= this.skippable)) throw new RangeError(`cannot pass over ${n} bytes`);
    this.skip -= n;
    this.bodyLeft = Math.max(0, this.bodyLeft - n);
    this.position += n;
  }

  /**
   * Whether the bytes so far end between two entries, where a stream may stop: after an entry's
   * padding, or (as Go's archive/tar reads it, so dockerd takes it) right after an entry's data
   * with none of its padding. The docker CLI sends a context ending so for `build -f` with a
   * Dockerfile outside the context.
   */
  get atBoundary(): boolean {
    return (
      (this.skip === 0 || this.skip === this.padAfterBody) &&
      this.pendingSize === 0 &&
      this.gathering === 'header' &&
      this.entryStart === undefined
    );
  }

  /**
   * Takes the next bytes. The walker keeps no reference to `buf` (its caller may reuse it);
   * what `body` is handed is a view of it, valid during that call.
   */
  push(buf: Buffer): void {
    let off = 0;
    // A 32-bit view of `buf`'s memory, made once a header lies aligned in it (see checksumMatches).
    let words: Uint32Array | undefined;
    while (off < buf.length && this.open) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - off);
        if (this.bodyLeft > 0) {
          const b = Math.min(n, this.bodyLeft);
          this.bodyLeft -= b;
          this.body?.(buf.subarray(off, off + b));
        }
        this.skip -= n;
        off += n;
        continue;
      }
      if (this.pendingSize === 0 && buf.length - off >= this.want) {
        // The whole block is in this piece (the usual case): no gathering, no copy.
        const at = off;
        off += this.want;
        if (this.gathering === 'header' && ((buf.byteOffset + at) & 3) === 0)
          words ??= new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
        this.onBlock(buf, at, this.position + at, words);
        continue;
      }
      const n = Math.min(this.want - this.pendingSize, buf.length - off);
      // A copy: the caller may reuse `buf` once `push` returns.
      this.pending.push(Buffer.from(buf.subarray(off, off + n)));
      this.pendingSize += n;
      off += n;
      if (this.pendingSize === this.want) {
        const block = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
        this.pending = [];
        this.pendingSize = 0;
        this.onBlock(block, 0, this.position + off - this.want, undefined);
      }
    }
    this.position += buf.length;
    if (this.ended && !this.trailing) {
      for (let i = off; i < buf.length; i++) {
        if (buf[i] !== 0) {
          this.trailing = true;
          break;
        }
      }
    }
  }

  /**
   * The `this.want` bytes at `buf[o]` (a header, or an extension's body) start at `blockStart`
   * in the tarball; `words`, when given, views `buf`'s memory and `buf.byteOffset + o` is a
   * multiple of 4.
   */
  private onBlock(buf: Buffer, o: number, blockStart: number, words: Uint32Array | undefined): void {
    if (this.gathering !== 'header') {
      const body = buf.toString('utf8', o, o + this.want);
      this.extendedAny = true;
      if (this.gathering === 'x') Object.assign(this.extended, parsePax(body));
      else if (this.gathering === 'L') this.extended.path = body.replace(/\0.*$/s, '');
      else this.extended.linkpath = body.replace(/\0.*$/s, '');
      this.gathering = 'header';
      this.want = 512;
      return;
    }
    if (!checksumMatches(buf, o, words)) {
      // A zero block (whose checksum cannot match) ends the archive.
      if (isZero(buf, o)) this.ended = true;
      else this.invalid = true;
      return;
    }
    let flag = String.fromCharCode(buf[o + 156]!);
    // GNU tar reads names from sparse-file pax keys too: leave such archives to tar-stream.
    if (this.extendedAny && Object.keys(this.extended).some((k) => k.startsWith('GNU.'))) flag = '?';
    const size =
      this.extendedAny && this.extended.size !== undefined
        ? Number(this.extended.size)
        : parseNumber(buf, o + 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) {
      this.invalid = true;
      return;
    }
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'x' || flag === 'L' || flag === 'K' || flag === 'g') {
      if (flag === 'g') {
        this.global = true;
        this.skip = padded;
        this.padAfterBody = 0;
        return;
      }
      this.entryStart ??= blockStart;
      this.gathering = flag;
      this.want = padded;
      if (padded === 0) {
        this.gathering = 'header';
        this.want = 512;
      }
      return;
    }
    const ext = this.extendedAny ? this.extended : undefined;
    // GNU headers keep times where POSIX keeps the name's prefix.
    const format = magicOf(buf, o);
    let name = ext?.path;
    if (name === undefined) {
      const prefix = format === 'ustar' ? cString(buf, o + 345, 155) : '';
      name = prefix ? `${prefix}/${cString(buf, o, 100)}` : cString(buf, o, 100);
    }
    const slashEnd = name.charCodeAt(name.length - 1) === 0x2f;
    // Old archives mark a directory with a trailing slash alone.
    if ((flag === '0' || flag === '\0') && slashEnd) flag = '5';
    const mtimeSec = ext?.mtime !== undefined ? Number(ext.mtime) : parseNumber(buf, o + 136, 12);
    const regular = flag === '0' || flag === '\0' || flag === '7';
    // tar-stream reads `size` bytes of body for every type but a directory.
    const bodyBytes = flag === '5' ? 0 : padded;
    this.visit({
      name: flag === '5' && !slashEnd ? `${name}/` : name,
      type: TYPES[flag] ?? `unknown-${flag}`,
      size,
      mtime: new Date(mtimeSec * 1000),
      linkname: ext?.linkpath ?? cString(buf, o + 157, 100),
      mode: parseNumber(buf, o + 100, 8),
      format,
      xattrs: ext !== undefined && Object.keys(ext).some((k) => k.startsWith('SCHILY.xattr.')),
      start: this.entryStart ?? blockStart,
      end: blockStart + 512 + bodyBytes,
      global: this.global,
    });
    if (this.extendedAny) {
      this.extended = {};
      this.extendedAny = false;
    }
    this.entryStart = undefined;
    this.skip = bodyBytes;
    this.padAfterBody = bodyBytes - (flag === '5' ? 0 : size);
    this.bodyLeft = regular ? size : 0;
  }
}

/** A NUL-terminated field: its bytes up to the first NUL, as UTF-8. */
function cString(buf: Buffer, from: number, len: number): string {
  let end = from;
  const stop = from + len;
  while (end < stop && buf[end] !== 0) end++;
  return end === from ? '' : buf.toString('utf8', from, end);
}

/**
 * tar-stream's test: `ustar\0` (POSIX; the version is not read), or `ustar  \0` (GNU), at
 * offset 257 of the header at `buf[o]`.
 */
function magicOf(buf: Buffer, o: number): ScannedHeader['format'] {
  const m = o + 257;
  if (
    buf[m] !== 0x75 ||
    buf[m + 1] !== 0x73 ||
    buf[m + 2] !== 0x74 ||
    buf[m + 3] !== 0x61 ||
    buf[m + 4] !== 0x72
  )
    return 'other';
  if (buf[m + 5] === 0) return 'ustar';
  if (buf[m + 5] === 0x20 && buf[m + 6] === 0x20 && buf[m + 7] === 0) return 'gnu';
  return 'other';
}

function isZero(buf: Buffer, o: number): boolean {
  for (let i = o; i < o + 512; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * POSIX ustar: the header checksum is the sum of its bytes with the checksum field as spaces.
 * With `words` (a 32-bit view of the header's aligned memory), the bytes are summed four at a
 * time, in two 16-bit lanes per accumulator (128 words of bytes of at most 255 fit in them).
 */
function checksumMatches(buf: Buffer, o: number, words: Uint32Array | undefined): boolean {
  let sum = 0;
  if (words !== undefined) {
    const first = (buf.byteOffset + o) >>> 2;
    let even = 0;
    let odd = 0;
    for (let i = first; i < first + 128; i++) {
      const w = words[i]!;
      even += w & 0x00ff00ff;
      odd += (w >>> 8) & 0x00ff00ff;
    }
    sum = (even & 0xffff) + (even >>> 16) + (odd & 0xffff) + (odd >>> 16);
  } else {
    for (let i = o; i < o + 512; i++) sum += buf[i]!;
  }
  for (let i = o + 148; i < o + 156; i++) sum -= buf[i]!;
  return parseNumber(buf, o + 148, 8) === sum + 8 * 0x20;
}

/** Octal, or base-256 for big values (GNU), as tar numeric fields are written. */
function parseNumber(block: Buffer, from: number, len: number): number {
  const stop = from + len;
  if ((block[from]! & 0x80) !== 0) {
    let n = 0;
    for (let i = from + 1; i < stop; i++) n = n * 256 + block[i]!;
    return n;
  }
  // The usual form, digits ended by a NUL or a space, without making a string.
  let n = 0;
  let i = from;
  for (; i < stop; i++) {
    const c = block[i]!;
    if (c < 0x30 || c > 0x37) break;
    n = n * 8 + (c - 0x30);
  }
  if (i > from && (i === stop || block[i] === 0 || block[i] === 0x20)) return n;
  const text = block.toString('latin1', from, stop).replace(/\0.*$/s, '').trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** pax extended header records: `LEN key=value\n`. */
function parsePax(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  const buf = Buffer.from(body, 'utf8');
  let off = 0;
  while (off < buf.length) {
    const space = buf.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number.parseInt(buf.subarray(off, space).toString('latin1'), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = buf.subarray(space + 1, off + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    off += len;
  }
  return out;
}
