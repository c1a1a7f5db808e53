import { rename, rm, stat } from 'node:fs/promises';
import type { ContainerRuntime } from '@ts-container/runtime';
import type { ContainerRecord } from './container-store.js';
import type { ContainerService, Logger } from './containers.js';
import { invalidParameter } from './errors.js';

/** Rotation applies unless `--log-opt max-size/max-file` say otherwise: 20 MB × 5 files. */
export const DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILE = 5;

/** Docker's size format for `max-size`: `10k`, `20m`, `1g`, or bytes. */
export function parseLogSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(value.trim());
  if (!m) throw invalidParameter(`invalid value for max-size: ${value}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * unit);
}

export interface LogLimits {
  maxSize: number;
  maxFile: number;
}

export function logLimits(c: Pick<ContainerRecord, 'HostConfig'>): LogLimits {
  const opts = ((c.HostConfig.LogConfig as { Config?: Record<string, string> } | undefined)?.Config ??
    {}) as Record<string, string>;
  const maxSize = opts['max-size'] !== undefined ? parseLogSize(opts['max-size']) : DEFAULT_LOG_MAX_SIZE;
  const maxFile = opts['max-file'] !== undefined ? Number(opts['max-file']) : DEFAULT_LOG_MAX_FILE;
  if (!Number.isInteger(maxFile) || maxFile < 1)
    throw invalidParameter(`invalid value for max-file: ${opts['max-file']}`);
  return { maxSize, maxFile };
}

/**
 * The size at which conmon itself truncates a log. The daemon rotates at max-size; this bound
 * is for when no daemon is there to rotate (stopped or crashed): the log then loses its older
 * lines but never fills the disk. Twice max-size at least, so a daemon that polls once a
 * second rotates first unless output runs faster than max-size per second.
 */
export function monitorLogSizeMax(limits: LogLimits): number {
  return limits.maxSize * Math.max(2, limits.maxFile);
}

/** The rotated files of a log, oldest first (`log.4` … `log.1`), that may exist. */
export function rotatedLogPaths(logPath: string, maxFile: number): string[] {
  const out: string[] = [];
  for (let i = maxFile - 1; i >= 1; i--) out.push(`${logPath}.${i}`);
  return out;
}

/**
 * Rotates container logs like Docker's json-file driver with max-size/max-file. conmon writes
 * one k8s-file log and has no rotation of its own (its --log-size-max truncates, losing the
 * log: kept only as a bound for when the daemon is down, see monitorLogSizeMax), so a poller checks the sizes: a log past max-size is renamed to `.1` (older ones shift
 * up, the oldest beyond max-file is deleted) and conmon is told to reopen its log path. A log
 * can grow past max-size by what is written between two polls.
 */
export class LogRotator {
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly containers: ContainerService,
    private readonly runtime: ContainerRuntime,
    private readonly logger: Pick<Logger, 'warn'>,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const c of this.containers.all()) {
        if (!c.State.Running) continue;
        await this.rotateIfNeeded(c).catch((err: unknown) =>
          // The container may have stopped meanwhile; the next poll tries again.
          this.logger.warn(`log rotation of ${c.Id.slice(0, 12)}: ${String(err)}`),
        );
      }
    } finally {
      this.busy = false;
    }
  }

  async rotateIfNeeded(c: ContainerRecord): Promise<boolean> {
    const { maxSize, maxFile } = logLimits(c);
    const size = (await stat(c.LogPath).catch(() => ({ size: 0 }))).size;
    if (size <= maxSize) return false;
    if (maxFile === 1) {
      // Nowhere to keep the old one: start afresh (readers notice the shorter file).
      await rename(c.LogPath, `${c.LogPath}.rotating`);
      await this.runtime.reopenLog(c.Id);
      await rm(`${c.LogPath}.rotating`, { force: true });
      return true;
    }
    const paths = rotatedLogPaths(c.LogPath, maxFile);
    await rm(paths[0]!, { force: true });
    for (let i = 1; i < paths.length; i++) await rename(paths[i]!, paths[i - 1]!).catch(() => undefined);
    await rename(c.LogPath, `${c.LogPath}.1`);
    await this.runtime.reopenLog(c.Id);
    return true;
  }
}
