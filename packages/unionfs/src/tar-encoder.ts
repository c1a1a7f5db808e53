import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { SnapshotError } from './errors.js';

// The tar encoder of layer tarballs: headers and file data written into large buffers, one
// push per 256 KiB, instead of a stream object and callbacks per entry.
//
// The bytes are those tar-stream 3 writes for the same headers (the layers and DiffIDs made
// before it stay the same; `tar-encoder.test.ts` compares the two): ustar headers with octal
// fields of n digits and a space, a name split into prefix and name at a `/` when longer than
// 100 bytes, and a pax header (named `PaxHeader`, as is the entry after it) when the name is
// not ASCII or cannot be split, the link target is over 100 bytes, or xattrs are recorded.

export type EntryType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo';

export interface EntryHeader {
  name: string;
  type: EntryType;
  mode: number;
  mtime: Date;
  uid?: number;
  gid?: number;
  /** File data bytes (files only). */
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

const BLOCK = 512;
const CHUNK = 256 * 1024;
const TYPEFLAGS: Record<EntryType | 'pax-header', number> = {
  file: 0x30,
  link: 0x31,
  symlink: 0x32,
  'character-device': 0x33,
  'block-device': 0x34,
  directory: 0x35,
  fifo: 0x36,
  'pax-header': 0x78,
};

/** `n` octal digits and a space; all sevens when the value does not fit. */
function octal(value: number, n: number): string {
  const digits = value.toString(8);
  if (digits.length > n) return `${'7'.repeat(n)} `;
  return `${'0'.repeat(n - digits.length)}${digits} `;
}

/** The name split into ustar's prefix and name fields, or undefined when a pax header must hold it. */
function splitName(full: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(full) !== full.length) return undefined; // not ASCII
  let name = full;
  let prefix = '';
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return undefined;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  return prefix.length > 155 ? undefined : { name, prefix };
}

/** A pax record: its length in decimal (counting itself), then ` key=value\n`. */
function paxRecord(text: string): string {
  const len = Buffer.byteLength(text);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= 10 ** digits) digits++;
  return `${len + digits}${text}`;
}

interface Fields {
  name: string;
  prefix: string;
  type: EntryType | 'pax-header';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkname?: string | undefined;
  devmajor?: number | undefined;
  devminor?: number | undefined;
}

function writeHeader(buf: Buffer, at: number, h: Fields): void {
  buf.fill(0, at, at + BLOCK);
  buf.write(h.name, at, 100, 'utf8');
  buf.write(octal(h.mode & 0o7777, 6), at + 100, 'latin1');
  buf.write(octal(h.uid, 6), at + 108, 'latin1');
  buf.write(octal(h.gid, 6), at + 116, 'latin1');
  if (h.size.toString(8).length > 11) {
    // Base-256 for sizes of 8 GiB and more.
    buf[at + 124] = 0x80;
    let num = h.size;
    for (let i = 11; i > 0; i--) {
      buf[at + 124 + i] = num & 0xff;
      num = Math.floor(num / 0x100);
    }
  } else buf.write(octal(h.size, 11), at + 124, 'latin1');
  buf.write(octal((h.mtime.getTime() / 1000) | 0, 11), at + 136, 'latin1');
  buf[at + 156] = TYPEFLAGS[h.type];
  if (h.linkname) buf.write(h.linkname, at + 157, 100, 'utf8');
  buf.write('ustar\u000000', at + 257, 'latin1');
  buf.write(octal(h.devmajor || 0, 6), at + 329, 'latin1');
  buf.write(octal(h.devminor || 0, 6), at + 337, 'latin1');
  if (h.prefix) buf.write(h.prefix, at + 345, 155, 'utf8');
  // The checksum counts its own field as spaces.
  let sum = 8 * 32;
  for (let i = at; i < at + 148; i++) sum += buf[i]!;
  for (let i = at + 156; i < at + BLOCK; i++) sum += buf[i]!;
  buf.write(octal(sum, 6), at + 148, 'latin1');
}

/** Writes tar entries into a Readable, holding back while its reader is behind. */
export class TarEncoder {
  readonly stream: Readable;
  private chunk = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private resume: (() => void) | undefined;
  private gone = false;

  constructor() {
    this.stream = new Readable({
      highWaterMark: 4 * CHUNK,
      read: () => this.wake(),
      destroy: (err, callback) => {
        this.gone = true;
        this.wake();
        callback(err);
      },
    });
  }

  private wake(): void {
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }

  /** Hands the filled part of the buffer to the reader; waits while the reader is behind. */
  private async flush(): Promise<void> {
    if (this.gone) throw new SnapshotError('failed-precondition', 'the tarball’s reader went away');
    if (this.used === 0) return;
    const full = this.stream.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
    if (!full) await new Promise<void>((resolve) => (this.resume = resolve));
    if (this.gone) throw new SnapshotError('failed-precondition', 'the tarball’s reader went away');
  }

  private async room(bytes: number): Promise<void> {
    if (this.used + bytes > CHUNK) await this.flush();
  }

  private async headerBlock(h: Fields): Promise<void> {
    await this.room(BLOCK);
    writeHeader(this.chunk, this.used, h);
    this.used += BLOCK;
  }

  private async bytes(data: Buffer): Promise<void> {
    for (let off = 0; off < data.length; ) {
      if (this.used === CHUNK) await this.flush();
      const n = data.copy(this.chunk, this.used, off);
      this.used += n;
      off += n;
    }
  }

  private async pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    if (rest === 0) return;
    await this.room(BLOCK - rest);
    this.chunk.fill(0, this.used, this.used + BLOCK - rest);
    this.used += BLOCK - rest;
  }

  /** The header of an entry (a file's data follows through `data` or `fileData`). */
  async header(entry: EntryHeader): Promise<void> {
    const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
    const fields: Fields = {
      name: entry.name,
      prefix: '',
      type: entry.type,
      // As tar-stream: a mode of 0 is written as the default one.
      mode: entry.mode || (entry.type === 'directory' ? 0o755 : 0o644),
      uid: entry.uid || 0,
      gid: entry.gid || 0,
      size,
      mtime: entry.mtime,
      linkname: entry.linkname,
      devmajor: entry.devmajor,
      devminor: entry.devminor,
    };
    const split = entry.pax ? undefined : splitName(entry.name);
    if (split && !(entry.linkname && Buffer.byteLength(entry.linkname) > 100)) {
      await this.headerBlock({ ...fields, ...split });
      return;
    }
    let text = entry.name ? paxRecord(` path=${entry.name}\n`) : '';
    if (entry.linkname) text += paxRecord(` linkpath=${entry.linkname}\n`);
    for (const [key, value] of Object.entries(entry.pax ?? {})) text += paxRecord(` ${key}=${value}\n`);
    const pax = Buffer.from(text);
    const paxed = { ...fields, name: 'PaxHeader', linkname: entry.linkname && 'PaxHeader' };
    await this.headerBlock({ ...paxed, type: 'pax-header', size: pax.length });
    await this.bytes(pax);
    await this.pad(pax.length);
    await this.headerBlock(paxed);
  }

  /** A file's data, read from `path`: it must still have the size its header gave. */
  async fileData(path: string, size: number, name: string): Promise<void> {
    const changed = () => new SnapshotError('failed-precondition', `${name} changed while being archived`);
    if (size <= CHUNK) {
      // Small files are read synchronously (each asynchronous call is a thread-pool round
      // trip), straight into the buffer.
      await this.room(size);
      const fd = openSync(path, 'r');
      try {
        let got = 0;
        while (got < size) {
          const n = readSync(fd, this.chunk, this.used + got, size - got, null);
          if (n === 0) throw changed();
          got += n;
        }
        if (readSync(fd, Buffer.allocUnsafe(1), 0, 1, null) !== 0) throw changed();
      } finally {
        closeSync(fd);
      }
      this.used += size;
    } else {
      const fh = await open(path, 'r');
      try {
        let got = 0;
        while (got < size) {
          if (this.used === CHUNK) await this.flush();
          const { bytesRead } = await fh.read(this.chunk, this.used, Math.min(CHUNK - this.used, size - got));
          if (bytesRead === 0) throw changed();
          this.used += bytesRead;
          got += bytesRead;
        }
        if ((await fh.read(Buffer.allocUnsafe(1), 0, 1)).bytesRead !== 0) throw changed();
      } finally {
        await fh.close();
      }
    }
    await this.pad(size);
  }

  /** Ends the tarball: two zero blocks. */
  async finish(): Promise<void> {
    await this.room(2 * BLOCK);
    this.chunk.fill(0, this.used, this.used + 2 * BLOCK);
    this.used += 2 * BLOCK;
    await this.flush();
    this.stream.push(null);
  }

  fail(err: Error): void {
    this.stream.destroy(err);
  }
}
