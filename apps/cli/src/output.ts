import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/**
 * process.stdout or process.stderr, made only when a command uses it as a stream (pipes into
 * it, listens to it, …): a command's lines (`write()` of a string or bytes) before then go out
 * with write(2) directly. Making the stream is the larger part of a short command's start-up
 * under Bun (it loads Bun's JavaScript streams). Bytes written directly always precede the
 * stream's, so the order holds. A pipe whose reader is slow (EAGAIN) gets the stream from then on.
 */
export class LazyOutput {
  private stream: Writable | undefined;

  constructor(
    private readonly fd: 1 | 2,
    private readonly make: () => Writable,
    /** Called with the stream's or write(2)'s error (EPIPE: the reader went away). */
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {}

  /** Whether the stream was made (its pending writes must drain before exit). */
  get made(): boolean {
    return this.stream !== undefined;
  }

  /** The stream, made now. */
  real(): Writable {
    if (!this.stream) {
      this.stream = this.make();
      this.stream.on('error', this.onError);
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
    if (this.stream) return this.stream.write(chunk, encoding as BufferEncoding, callback);
    const done = typeof encoding === 'function' ? encoding : callback;
    let bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : chunk;
    while (bytes.length > 0) {
      try {
        bytes = bytes.subarray(writeSync(this.fd, bytes));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.onError(err as NodeJS.ErrnoException);
          return false;
        }
        return this.real().write(bytes, done);
      }
    }
    if (done) queueMicrotask(() => done(null));
    return true;
  };
}
