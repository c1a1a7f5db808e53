import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** The longest pause between two tries at a pipe whose reader is not reading. */
const MAX_WAIT_MS = 5;

/**
 * Writes all of `bytes` to `fd` before returning, as Node does for pipes and files on Linux.
 * A descriptor may be non-blocking (Bun makes stdio so; a parent may hand over such a socket):
 * its EAGAIN is waited out here rather than handed to process.stdout, because Bun's stream
 * drops what it still holds when the process exits (`tsctr logs` read through a pipe lost its
 * last lines).
 */
export function writeFully(fd: number, bytes: Uint8Array): void {
  let waitMs = 0.1;
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(fd, bytes));
      waitMs = 0.1;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(sleepCell, 0, 0, waitMs);
      waitMs = Math.min(waitMs * 2, MAX_WAIT_MS);
    }
  }
}

function toBytes(chunk: string | Uint8Array, encoding?: BufferEncoding): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : chunk;
}

/**
 * A command's stdout or stderr: `write()` goes out with write(2) at once, and the Writable a
 * command sees as a stream (pipes into it, listens to it, …) is made only on such use and
 * writes the same way. Never process.stdout: making it is the larger part of a short command's
 * start-up under Bun (it loads Bun's JavaScript streams), and Bun's loses data at exit.
 */
export class LazyOutput {
  private stream: Writable | undefined;

  constructor(
    private readonly fd: 1 | 2,
    /** Called with write(2)'s error (EPIPE: the reader went away). */
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {}

  /** The stream, made now. */
  real(): Writable {
    if (!this.stream) {
      this.stream = new Writable({
        decodeStrings: false,
        write: (chunk: string | Uint8Array, encoding, done) => {
          try {
            writeFully(this.fd, toBytes(chunk, encoding));
            done();
          } catch (err) {
            done(err as Error);
          }
        },
      });
      this.stream.on('error', this.onError);
      // A terminal's size (for `run -t`'s resize) is the one thing process.stdout knows that we
      // don't: asked of it only when asked of us.
      const tty = () => (this.fd === 1 ? process.stdout : process.stderr);
      Object.defineProperties(this.stream, {
        columns: { get: () => tty().columns },
        rows: { get: () => tty().rows },
      });
    }
    return this.stream;
  }

  /** What the command sees as its stdout/stderr: the stream, with `write` direct until it is made. */
  writable(): Writable {
    return new Proxy({} as Writable, {
      get: (_, key) => {
        if (key === 'write' && !this.stream) return this.directWrite;
        const stream = this.real();
        const value = Reflect.get(stream, key, stream);
        return typeof value === 'function' ? value.bind(stream) : value;
      },
      set: (_, key, value) => Reflect.set(this.real(), key, value),
      has: (_, key) => key in this.real(),
      getPrototypeOf: () => Reflect.getPrototypeOf(this.real()),
    });
  }

  private readonly directWrite = (
    chunk: string | Uint8Array,
    encoding?: BufferEncoding | ((err?: Error | null) => void),
    callback?: (err?: Error | null) => void,
  ): boolean => {
    const done = typeof encoding === 'function' ? encoding : callback;
    try {
      writeFully(this.fd, toBytes(chunk, typeof encoding === 'string' ? encoding : undefined));
    } catch (err) {
      this.onError(err as NodeJS.ErrnoException);
      if (done) queueMicrotask(() => done(err as Error));
      return false;
    }
    if (done) queueMicrotask(() => done(null));
    return true;
  };
}
