import { readFileSync } from 'node:fs';
import { link } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, posix } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Digest } from './digest.js';
import type { ArchiveSpan, LayerEntries } from './fast-extract.js';
import { layerWriterThread } from './layer-writer-thread.js';

/** More threads than this gain nothing: the filesystem's own locks serialise them. */
const MAX_THREADS = 4;
/** The files are cut into this many runs per thread, handed out as threads finish one. */
const BATCHES_PER_THREAD = 8;
/** What a thread does for one entry costs about as much as writing this many bytes. */
const ENTRY_COST = 32 * 1024;
const TYPES = new Set(['directory', 'file', 'contiguous-file', 'symlink', 'link']);

/**
 * Whether a checked layer can be written by {@link writeLayerInThreads}: its entries can be
 * split (no global header, every parent a directory entry, no name seen twice: the scan
 * checked that), none carries extended attributes or is a device or FIFO (Node has no call for
 * those; GNU tar does them), and we run as root (directories are made with their final modes
 * before their contents; only root may write into a read-only one). Owners are always restored:
 * the caller asks for that (tar's --same-owner).
 */
export function canWriteInThreads(scan: LayerEntries): boolean {
  return (
    scan.splittable &&
    !scan.xattrs &&
    process.getuid?.() === 0 &&
    scan.entries.every((e) => TYPES.has(e.type))
  );
}

interface Job {
  name: string;
  kind: 'directory' | 'file' | 'symlink';
  start: number;
  end: number;
  size: number;
  mtime: number;
  linkname: string;
}

/**
 * Writes a checked plain layer file into the empty directory `target` with worker threads, one
 * per core, each making its share of the entries with synchronous system calls (an `fs.*`
 * promise per call would cost a thread-pool round trip each, and a `tar` process per share
 * the copy of every byte through a pipe): first every directory (one thread), then the files
 * and symlinks in one contiguous run of the tarball per thread, then the hard links, whose
 * targets must exist. Whiteouts are left to the caller, which then sets every directory's time.
 */
export async function writeLayerInThreads(path: string, target: string, scan: LayerEntries): Promise<void> {
  const directories: Job[] = [];
  const others: Job[] = [];
  const links: ArchiveSpan[] = [];
  for (const e of scan.entries) {
    if (e.kind === 'link') links.push(e);
    else if (e.type === 'file' && posix.basename(e.name).startsWith('.wh.')) continue;
    else (e.kind === 'directory' ? directories : others).push(job(e));
  }
  const threads = acquire(
    Math.max(1, Math.min(availableParallelism(), MAX_THREADS, Math.ceil(others.length / 256))),
  );
  const run = (t: WriterThread, jobs: Job[], setgidDirs: string[]) =>
    t.run({ layer: path, target, jobs, setgidDirs });
  try {
    const setgidDirs = directories.length > 0 ? await run(threads[0]!, directories, []) : [];
    // Runs of the tarball handed out as threads ask: one the scheduler holds back (a busy
    // machine) is not left with half the layer while the other waits. Every thread ends (well
    // or not) before the threads go back to the idle set.
    const batches = splitByCost(others, threads.length * BATCHES_PER_THREAD);
    let failure: unknown;
    const shares = await Promise.allSettled(
      threads.map(async (t) => {
        for (let b = batches.shift(); b !== undefined && failure === undefined; b = batches.shift())
          await run(t, b, setgidDirs).catch((err: unknown) => {
            failure ??= err;
          });
      }),
    );
    for (const share of shares) if (share.status === 'rejected') throw share.reason;
    if (failure !== undefined) throw failure;
    for (const l of links) await link(join(target, l.linkname), join(target, l.name));
  } finally {
    release(threads);
  }
}

function job(e: ArchiveSpan): Job {
  return {
    name: e.name,
    kind: e.type === 'directory' ? 'directory' : e.type === 'symlink' ? 'symlink' : 'file',
    start: e.start,
    end: e.end,
    size: e.size,
    mtime: e.mtime.getTime() / 1000,
    linkname: e.linkname,
  };
}

/** `parts` runs of consecutive jobs of about the same cost each (bytes, plus a cost per entry). */
function splitByCost(jobs: Job[], parts: number): Job[][] {
  const cost = (j: Job) => j.size + ENTRY_COST;
  const total = jobs.reduce((sum, j) => sum + cost(j), 0);
  const out: Job[][] = [];
  let current: Job[] = [];
  let sum = 0;
  for (const j of jobs) {
    current.push(j);
    sum += cost(j);
    if (sum >= (total / parts) * (out.length + 1) && out.length < parts - 1) {
      out.push(current);
      current = [];
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

interface WriterThread {
  /** Writes `jobs` of the tarball `layer` into `target`; resolves with the setgid directories among them. */
  run(work: { layer: string; target: string; jobs: Job[]; setgidDirs: string[] }): Promise<string[]>;
  /** The sha256 of `layer`, in hex. */
  hash(layer: string): Promise<string>;
  /** Lets the process exit while the thread waits for work (or not). */
  hold(busy: boolean): void;
  stop(): void;
  readonly failed: boolean;
}

const SOURCE = `(${layerWriterThread.toString()})(require)`;
/** Idle threads stay this long for the next layer (a pull or load writes several in a row). */
const IDLE_MS = 10_000;
const idle: WriterThread[] = [];
let idleTimer: NodeJS.Timeout | undefined;

/**
 * Starts the threads a big layer will need while its scan runs (they take ~30 ms to boot), so
 * that {@link writeLayerInThreads} and {@link hashInThread} find them ready.
 */
export function prestartLayerWriters(): void {
  release(acquire(Math.min(availableParallelism(), MAX_THREADS) + 1));
}

/** The sha256 digest of a file, computed by a thread with big synchronous reads (off the event loop). */
export async function hashInThread(path: string): Promise<Digest> {
  const [thread] = acquire(1);
  try {
    return `sha256:${await thread!.hash(path)}`;
  } finally {
    release([thread!]);
  }
}

function acquire(count: number): WriterThread[] {
  const threads = idle.splice(0, count);
  while (threads.length < count) threads.push(startThread());
  for (const t of threads) t.hold(true);
  return threads;
}

function release(threads: WriterThread[]): void {
  for (const t of threads) {
    if (t.failed) continue;
    t.hold(false);
    idle.push(t);
  }
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    for (const t of idle.splice(0)) t.stop();
  }, IDLE_MS).unref();
}

function startThread(): WriterThread {
  const workerData = {
    umask: currentUmask(),
    euid: process.geteuid?.() ?? 0,
    egid: process.getegid?.() ?? 0,
  };
  const worker = new Worker(SOURCE, { eval: true, workerData });
  let failed: Error | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: one reply type per request kind
  let pending: { resolve: (v: any) => void; reject: (e: Error) => void } | undefined;
  const fail = (err: Error) => {
    failed ??= err;
    pending?.reject(err);
    pending = undefined;
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`layer writer thread exited (${code})`)));
  worker.on(
    'message',
    (msg: { setgid?: string[]; sha256?: string; error?: { message: string; code?: string } }) => {
      const p = pending;
      pending = undefined;
      if (msg.error) p?.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
      else p?.resolve(msg.sha256 ?? msg.setgid ?? []);
    },
  );
  const request = <T>(work: object) =>
    new Promise<T>((resolve, reject) => {
      if (failed) return reject(failed);
      pending = { resolve, reject };
      worker.postMessage(work);
    });
  return {
    get failed() {
      return failed !== undefined;
    },
    run: (work) => request<string[]>(work),
    hash: (layer) => request<string>({ layer, target: '', jobs: [], setgidDirs: [] }),
    hold: (busy) => (busy ? worker.ref() : worker.unref()),
    stop: () => {
      worker.removeAllListeners();
      worker.on('error', () => undefined);
      void worker.terminate();
    },
  };
}

/** The process umask, read without changing it (`process.umask()` sets it twice); 0o777 if unknown. */
function currentUmask(): number {
  try {
    const line = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (line) return Number.parseInt(line[1]!, 8);
  } catch {
    // Not Linux, or no /proc: every mode is then set explicitly.
  }
  return 0o777;
}
