import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { invalidParameter } from './errors.js';

/**
 * Small files of a COPY written by worker threads, each with synchronous calls: file creation is
 * kernel work, and on the main thread alone it uses one core; through the thread pool each of a
 * file's six calls costs a round trip. The workers share the process's descriptors, so they read
 * the content straight from the spool's open descriptor.
 */

/** Files up to this size are written with synchronous calls, their content read in one piece. */
export const SMALL_FILE = 256 * 1024;

/** One new file: content `size` bytes at `offset` in the spool. */
export interface SmallFileJob {
  /** Host path (its parent resolved inside the root). */
  target: string;
  /** The path inside the image, for messages. */
  dest: string;
  offset: number;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (atime and mtime). */
  mtime: number;
}

interface Reply {
  id: number;
  error?: { message: string; code?: string };
  /** The target is an existing directory: COPY refuses to replace it. */
  directory?: string;
}

/** Workers are stopped when no COPY has used them for this long. */
const IDLE_MS = 5000;

// Plain JavaScript evaluated in each worker (CommonJS: `require` is there).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const buf = Buffer.allocUnsafe(${SMALL_FILE});
function create(target) {
  try {
    return fs.openSync(target, 'wx', 0o600);
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
  }
  if (fs.lstatSync(target).isDirectory()) return -1;
  fs.rmSync(target, { force: true });
  return fs.openSync(target, 'wx', 0o600);
}
parentPort.on('message', ({ id, fd, jobs }) => {
  try {
    for (const j of jobs) {
      const out = create(j.target);
      if (out < 0) return parentPort.postMessage({ id, directory: j.dest });
      try {
        let done = 0;
        while (done < j.size) {
          const read = fs.readSync(fd, buf, 0, j.size - done, j.offset + done);
          if (read === 0) throw Object.assign(new Error('the build context ended early'), { code: 'ESHORT' });
          for (let w = 0; w < read; ) w += fs.writeSync(out, buf, w, read - w);
          done += read;
        }
        fs.fchownSync(out, j.uid, j.gid);
        fs.fchmodSync(out, j.mode); // after chown: chown clears set-id bits
        fs.futimesSync(out, j.mtime, j.mtime);
      } finally {
        fs.closeSync(out);
      }
    }
    parentPort.postMessage({ id });
  } catch (err) {
    parentPort.postMessage({ id, error: { message: err.message, code: err.code } });
  }
});
`;

class WriterPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 0;
  private busy = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('message', (reply: Reply) => this.settle(reply));
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', () => this.fail(new Error('a COPY writer thread exited')));
      this.workers.push(worker);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Writes `jobs` (split across the workers) from spool descriptor `fd`. */
  async write(fd: number, jobs: SmallFileJob[]): Promise<void> {
    this.busy++;
    if (this.idle) clearTimeout(this.idle);
    try {
      const per = Math.ceil(jobs.length / this.workers.length);
      await Promise.all(
        this.workers.map((worker, i) => this.send(worker, fd, jobs.slice(i * per, (i + 1) * per))),
      );
    } finally {
      if (--this.busy === 0) this.idle = setTimeout(() => this.stop(), IDLE_MS).unref();
    }
  }

  private send(worker: Worker, fd: number, jobs: SmallFileJob[]): Promise<void> {
    if (jobs.length === 0) return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, fd, jobs });
    });
  }

  private settle(reply: Reply): void {
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (reply.directory !== undefined)
      waiter.reject(invalidParameter(`cannot copy to non-directory: ${reply.directory} is a directory`));
    else if (reply.error?.code === 'ESHORT') waiter.reject(invalidParameter(reply.error.message));
    else if (reply.error)
      waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    else waiter.resolve();
  }

  /** A worker failed or exited: what it was doing fails, and the pool is not used again. */
  private fail(err: Error): void {
    if (pool === this) pool = undefined;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
    this.stop();
  }

  private stop(): void {
    if (pool === this) pool = undefined;
    for (const worker of this.workers.splice(0)) {
      worker.removeAllListeners('exit');
      void worker.terminate();
    }
  }
}

let pool: WriterPool | undefined;

/** Writers for the small files of a COPY, one per core (none on a single core). */
export function smallFileWriters(): WriterPool | undefined {
  const size = Math.min(availableParallelism(), 4);
  if (size < 2) return undefined;
  pool ??= new WriterPool(size);
  return pool;
}
