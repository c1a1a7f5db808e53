import { watch } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
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

/** How much of a log file `tailLog` reads at a time, from the end backwards. */
const TAIL_CHUNK = 64 * 1024;

/**
 * `docker logs --tail N`: the last `n` wanted records of the log files (oldest file first), in
 * order, read from the end backwards so the cost follows N and not the log's length.
 */
export async function tailLog(
  paths: readonly string[],
  n: number,
  wanted: (r: LogRecord) => boolean,
): Promise<LogRecord[]> {
  const found: LogRecord[] = []; // newest first
  for (const path of [...paths].reverse()) {
    if (found.length >= n) break;
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // not rotated that far
      throw err;
    }
    try {
      let end = (await fh.stat()).size;
      // The start of a line whose beginning is in an earlier chunk.
      let carry = Buffer.alloc(0);
      while (end > 0 && found.length < n) {
        const start = Math.max(0, end - TAIL_CHUNK);
        const chunk = Buffer.alloc(end - start);
        const { bytesRead } = await fh.read(chunk, 0, chunk.length, start);
        const data = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
        end = start;
        // Unless at the top of the file, the first line may be cut: keep it for the next chunk.
        const firstNewline = start > 0 ? data.indexOf(0x0a) : -1;
        if (start > 0 && firstNewline < 0) {
          carry = data;
          continue;
        }
        carry = start > 0 ? data.subarray(0, firstNewline) : Buffer.alloc(0);
        const lines = data
          .subarray(firstNewline + 1)
          .toString('utf8')
          .split('\n');
        for (let i = lines.length - 1; i >= 0 && found.length < n; i--) {
          const r = parseLogLine(lines[i] as string);
          if (r && wanted(r)) found.push(r);
        }
      }
    } finally {
      await fh.close();
    }
  }
  return found.reverse();
}
