import { stat } from 'node:fs/promises';
import type { WaitCondition } from '@ts-container/api';
import type { LogRecord } from '@ts-container/runtime';
import type { ContainerRecord, ContainerStore } from './container-store.js';
import type { ContainerLifecycle } from './lifecycle.js';
import { logLimits, rotatedLogPaths } from './log-rotation.js';
import type { LogShipper } from './log-shipper.js';
import { followLog, tailLog } from './logs.js';

export interface AttachOptions {
  stdout: boolean;
  stderr: boolean;
  /** Include what the container already wrote. */
  logs: boolean;
  /** Follow new output until the container stops. */
  stream: boolean;
  signal?: AbortSignal;
}

export interface LogsOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  /** Number of lines from the end, or 'all'. */
  tail: number | 'all';
  since?: number;
  until?: number;
  signal?: AbortSignal;
}

export interface ContainerOutputDeps {
  store: Pick<ContainerStore, 'get'>;
  logShipper: Pick<LogShipper, 'ship'>;
  lifecycle: Pick<ContainerLifecycle, 'events'>;
}

/** `docker attach`'s output and `docker logs`: the json-file log, followed while the container runs. */
export class ContainerOutput {
  constructor(private readonly deps: ContainerOutputDeps) {}

  async *attach(ref: string, options: AttachOptions): AsyncGenerator<LogRecord> {
    const c = this.deps.store.get(ref);
    const wanted = (r: LogRecord) => (r.stream === 'stdout' ? options.stdout : options.stderr);
    // A container not started yet will write its log from the beginning.
    const from = options.logs || c.State.Status === 'created' ? 0 : 'end';
    if (options.logs) await this.deps.logShipper.ship(c);
    if (!options.stream) {
      if (options.logs) for await (const r of followLog(c.LogPath, { from: 0 })) if (wanted(r)) yield r;
      return;
    }
    const until = this.untilStopped(c.Id);
    for await (const r of followLog(c.LogPath, {
      from,
      until,
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      if (wanted(r)) yield r;
    }
  }

  /** Resolves when the run ends (`not-running`, `next-exit`) or the container is removed (`removed`). */
  async wait(
    ref: string,
    condition: WaitCondition,
    signal?: AbortSignal,
  ): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const c = this.deps.store.get(ref);
    const id = c.Id;
    if (condition === 'not-running' && !c.State.Running) return { StatusCode: c.State.ExitCode, Error: null };
    const event = condition === 'removed' ? 'destroy' : 'die';
    return new Promise((resolve, reject) => {
      const onEvent = (record: ContainerRecord) => {
        if (record.Id !== id) return;
        cleanup();
        resolve({ StatusCode: record.State.ExitCode, Error: null });
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const cleanup = () => {
        this.deps.lifecycle.events.off(event, onEvent);
        signal?.removeEventListener('abort', onAbort);
      };
      this.deps.lifecycle.events.on(event, onEvent);
      signal?.addEventListener('abort', onAbort);
    });
  }

  /** Resolves when the container's next (or current) run has ended. */
  private untilStopped(id: string): Promise<void> {
    return this.watchStop(id).stopped;
  }

  /** `stopped` resolves when the container's next (or current) run ends; `cancel` stops watching. */
  private watchStop(id: string): { stopped: Promise<void>; cancel: () => void } {
    const events = this.deps.lifecycle.events;
    let onDie: ((r: ContainerRecord) => void) | undefined;
    const stopped = new Promise<void>((resolve) => {
      onDie = (r: ContainerRecord) => {
        if (r.Id !== id) return;
        events.off('die', onDie!);
        resolve();
      };
      events.on('die', onDie);
    });
    return { stopped, cancel: () => events.off('die', onDie!) };
  }

  async *logs(ref: string, options: LogsOptions): AsyncGenerator<LogRecord> {
    const c = this.deps.store.get(ref);
    // Watched from the moment it is seen running (no await between): a container that ends
    // while its log is read is seen ending, and the follow drains the log and ends (a run that
    // ended between the check and a later watch left `logs -f` waiting for good).
    const stop = options.follow && c.State.Running ? this.watchStop(c.Id) : undefined;
    try {
      const wanted = (r: LogRecord) =>
        (r.stream === 'stdout' ? options.stdout : options.stderr) && inTimeRange(r, options);
      await this.deps.logShipper.ship(c);
      // Rotated files first (oldest to newest), then the current one.
      const paths = [...rotatedLogPaths(c.LogPath, logLimits(c).maxFile), c.LogPath];
      if (options.tail === 'all') {
        for (const path of paths) for await (const r of followLog(path, { from: 0 })) if (wanted(r)) yield r;
      } else {
        for (const r of await tailLog(paths, options.tail, wanted)) yield r;
      }
      if (stop === undefined) return;
      const offset = (await stat(c.LogPath).catch(() => ({ size: 0 }))).size;
      for await (const r of followLog(c.LogPath, {
        from: offset,
        until: stop.stopped,
        ...(options.signal ? { signal: options.signal } : {}),
      })) {
        if (wanted(r)) yield r;
      }
    } finally {
      stop?.cancel();
    }
  }
}

function inTimeRange(r: LogRecord, o: LogsOptions): boolean {
  if (o.since === undefined && o.until === undefined) return true;
  const t = Date.parse(r.time) / 1000;
  return (o.since === undefined || t >= o.since) && (o.until === undefined || t <= o.until);
}
