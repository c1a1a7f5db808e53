import { watch } from 'node:fs';
import { dirname } from 'node:path';
import { type LogRecord, readLogRecords } from '@ts-container/runtime';

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
  const wake = () => {
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
      const batch = await readLogRecords(path, offset);
      offset = batch.offset;
      for (const r of batch.records) yield r;
      if (batch.records.length > 0) continue;
      // Stopped before this read, and it found nothing more: the log is drained.
      if (wasStopped) return;
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        setTimeout(resolve, 250);
      });
    }
  } finally {
    watcher?.close();
    options.signal?.removeEventListener('abort', wake);
  }
}
