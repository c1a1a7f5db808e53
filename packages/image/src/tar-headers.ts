/** One entry header of a plain tarball, as the pre-scan sees it. */
export interface ScannedHeader {
  name: string;
  type: string;
  size: number;
  mtime: Date;
  linkname: string;
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
 * header to `visit`. A block whose checksum is wrong ends the walk as `invalid`: such a stream
 * is left to the careful extractor, which reports it.
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
  private ended = false;
  private global = false;
  // Offsets in the tarball: of the bytes taken so far, and of the current entry's first header.
  private position = 0;
  private entryStart: number | undefined;

  constructor(private readonly visit: (h: ScannedHeader) => void) {}

  /** Whether more bytes can change anything (false after the end blocks or a bad header). */
  get open(): boolean {
    return !this.ended && !this.invalid;
  }

  push(buf: Buffer): void {
    let off = 0;
    while (off < buf.length && this.open) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const n = Math.min(this.want - this.pendingSize, buf.length - off);
      this.pending.push(buf.subarray(off, off + n));
      this.pendingSize += n;
      off += n;
      if (this.pendingSize === this.want) {
        const block = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
        this.pending = [];
        this.pendingSize = 0;
        this.onBlock(block, this.position + off - this.want);
      }
    }
    this.position += buf.length;
  }

  private onBlock(block: Buffer, blockStart: number): void {
    if (this.gathering !== 'header') {
      const body = block.toString('utf8');
      if (this.gathering === 'x') Object.assign(this.extended, parsePax(body));
      else if (this.gathering === 'L') this.extended.path = body.replace(/\0.*$/s, '');
      else this.extended.linkpath = body.replace(/\0.*$/s, '');
      this.gathering = 'header';
      this.want = 512;
      return;
    }
    if (block.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    if (!checksumMatches(block)) {
      this.invalid = true;
      return;
    }
    let flag = String.fromCharCode(block[156]!);
    // GNU tar reads names from sparse-file pax keys too: leave such archives to tar-stream.
    if (Object.keys(this.extended).some((k) => k.startsWith('GNU.'))) flag = '?';
    const size =
      this.extended.size !== undefined ? Number(this.extended.size) : parseNumber(block.subarray(124, 136));
    if (!Number.isSafeInteger(size) || size < 0) {
      this.invalid = true;
      return;
    }
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'x' || flag === 'L' || flag === 'K' || flag === 'g') {
      if (flag === 'g') {
        this.global = true;
        this.skip = padded;
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
    const str = (from: number, len: number) => {
      const raw = block.subarray(from, from + len);
      const nul = raw.indexOf(0);
      return raw.subarray(0, nul < 0 ? len : nul).toString('utf8');
    };
    const magic = block.subarray(257, 262).toString('latin1');
    const prefix = magic === 'ustar' ? str(345, 155) : '';
    const name = this.extended.path ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    const mtimeSec =
      this.extended.mtime !== undefined ? Number(this.extended.mtime) : parseNumber(block.subarray(136, 148));
    const regular = flag === '0' || flag === '\0' || flag === '7';
    this.visit({
      name: flag === '5' && !name.endsWith('/') ? `${name}/` : name,
      type: TYPES[flag] ?? `unknown-${flag}`,
      size,
      mtime: new Date(mtimeSec * 1000),
      linkname: this.extended.linkpath ?? str(157, 100),
      xattrs: Object.keys(this.extended).some((k) => k.startsWith('SCHILY.xattr.')),
      start: this.entryStart ?? blockStart,
      end: blockStart + 512 + (regular ? padded : 0),
      global: this.global,
    });
    this.extended = {};
    this.entryStart = undefined;
    // Only regular files carry a body that matters here; links and directories have none.
    this.skip = regular ? padded : 0;
  }
}

/** POSIX ustar: the header checksum is the sum of its bytes with the checksum field as spaces. */
function checksumMatches(block: Buffer): boolean {
  const stored = parseNumber(block.subarray(148, 156));
  let sum = 8 * 0x20;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += block[i]!;
  return stored === sum;
}

/** Octal, or base-256 for big values (GNU), as tar numeric fields are written. */
function parseNumber(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
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
