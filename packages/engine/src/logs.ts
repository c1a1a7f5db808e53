import { closeSync, fstatSync, openSync, readSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { type LogRecord, parseLogLine, readLogRecords } from '@ts-container/runtime';

export interface FollowOptions {
  /** Byte offset to start at; `end` starts after what is already written. */
  from: number | 'end';
  /** Keep going until this resolves (the container stopped), then drain and finish. */
  until?: Promise<unknown>;
  signal?: AbortSignal;
}

/** Reads a container log, and with `until` keeps following it as the container writes. */
export async function* followLog(path: string, options: FollowOptions): AsyncGenerator<LogRecord> {
  let offset = 0;
  if (options.from === 'end') {
    const { stat } = await import('node:fs/promises');
    offset = (await stat(path).catch(() => ({ size: 0 }))).size;
  } else {
    offset = options.from;
  }
  let stopped = options.until === undefined;
  void options.until?.then(
    () => {
      stopped = true;
      wake();
    },
    () => {
      stopped = true;
      wake();
    },
  );
  let wakeUp: (() => void) | undefined;
  // Set by every wake-up: one that comes while a read is under way (the container stopping,
  // conmon writing) has no waiter to resolve, and must not leave the loop asleep until the
  // fallback timer (what made a build's RUN step end up to 250 ms late).
  let woken = false;
  const wake = () => {
    woken = true;
    const w = wakeUp;
    wakeUp = undefined;
    w?.();
  };
  const watcher = options.until ? watch(dirname(path), () => wake()) : undefined;
  options.signal?.addEventListener('abort', wake);
  try {
    for (;;) {
      if (options.signal?.aborted) return;
      const wasStopped = stopped;
      woken = false;
      const batch = await readLogRecords(path, offset);
      offset = batch.offset;
      for (const r of batch.records) yield r;
      if (batch.records.length > 0) continue;
      // Stopped before this read, and it found nothing more: the log is drained.
      if (wasStopped) return;
      if (woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    watcher?.close();
    options.signal?.removeEventListener('abort', wake);
  }
}

/**
 * How much of a log file `tailLog` reads first, from the end backwards (a json-file line of a
 * short output line is ~90 bytes), and at most at a time: each read is twice the last.
 */
const TAIL_FIRST_CHUNK = 8 * 1024;
const TAIL_MAX_CHUNK = 256 * 1024;

/**
 * `docker logs --tail N`: the last `n` wanted records of the log files (oldest file first), in
 * order, read from the end backwards so the cost follows N and not the log's length: only the
 * lines it keeps or passes over are decoded.
 *
 * The reads are synchronous, as dockerd's are: four thread-pool round trips (open, stat, read,
 * close) cost a usual tail far more than the calls themselves. Each read is at most
 * TAIL_MAX_CHUNK, and a long tail lets the event loop run between them.
 */
export async function tailLog(
  paths: readonly string[],
  n: number,
  wanted: (r: LogRecord) => boolean,
): Promise<LogRecord[]> {
  const found: LogRecord[] = []; // newest first
  for (const path of [...paths].reverse()) {
    if (found.length >= n) break;
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // not rotated that far
      throw err;
    }
    try {
      let end = fstatSync(fd).size;
      let size = TAIL_FIRST_CHUNK;
      // The start of a line whose beginning is in an earlier chunk.
      let carry: Buffer | undefined;
      while (end > 0 && found.length < n) {
        if (size > TAIL_FIRST_CHUNK) await setImmediate();
        const start = Math.max(0, end - size);
        size = Math.min(size * 2, TAIL_MAX_CHUNK);
        const chunk = Buffer.allocUnsafe(end - start);
        const read = chunk.subarray(0, readSync(fd, chunk, 0, chunk.length, start));
        const data = carry ? Buffer.concat([read, carry]) : read;
        end = start;
        // Whole lines, newest first: each one after a newline (the top of the file starts one).
        let lineEnd = data.length;
        while (found.length < n) {
          const newline = lineEnd > 0 ? data.lastIndexOf(0x0a, lineEnd - 1) : -1;
          if (newline < 0 && start > 0) break;
          const r = parseLogLine(data.toString('utf8', newline + 1, lineEnd));
          if (r && wanted(r)) found.push(r);
          if (newline < 0) break;
          lineEnd = newline;
        }
        // Unless at the top of the file, the first line may be cut: kept for the next chunk.
        carry = data.subarray(0, lineEnd);
      }
    } finally {
      closeSync(fd);
    }
  }
  return found.reverse();
}
