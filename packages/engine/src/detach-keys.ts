import { Transform, type TransformCallback } from 'node:stream';
import { invalidParameter } from './errors.js';

/** Docker's default detach sequence, ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** Parses Docker's `--detach-keys` format (`ctrl-p,ctrl-q`, `a`, `ctrl-@`) into bytes. */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length === 1) bytes.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/i.test(k)) {
      const c = k.slice(5).toLowerCase();
      bytes.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : c.toUpperCase().charCodeAt(0) - 64);
    } else throw invalidParameter(`Invalid detach keys (${spec}) provided`);
  }
  return Buffer.from(bytes);
}

/**
 * Passes an attached client's input through, except the detach sequence: when the client
 * types it, emits `detach` and stops (what came before the sequence is delivered, the
 * sequence itself is not), as Docker's attach does.
 */
export class DetachKeyScanner extends Transform {
  private matched = 0;
  detached = false;

  constructor(private readonly keys: Buffer) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.detached || this.keys.length === 0) {
      if (!this.detached) this.push(chunk);
      cb();
      return;
    }
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.detached = true;
          if (out.length) this.push(Buffer.from(out));
          this.emit('detach');
          cb();
          return;
        }
        continue;
      }
      // A partial sequence that did not complete is ordinary input.
      if (this.matched > 0) out.push(...this.keys.subarray(0, this.matched));
      this.matched = byte === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(byte);
    }
    if (out.length) this.push(Buffer.from(out));
    cb();
  }
}
