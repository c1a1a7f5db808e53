import { ramInBytes } from '@ts-container/common';
import type { ContainerRecord } from './container-store.js';
import { invalidParameter } from './errors.js';

/** Rotation applies unless `--log-opt max-size/max-file` say otherwise: 20 MB × 5 files. */
export const DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILE = 5;

/** Docker's size format for `max-size`: `10k`, `20m`, `1g`, or bytes. */
export function parseLogSize(value: string): number {
  try {
    return ramInBytes(value);
  } catch {
    throw invalidParameter(`invalid value for max-size: ${value}`);
  }
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
 * The size at which conmon cuts its spool (monitor.log, see LogShipper), which the daemon
 * rotates long before. It bounds the spool while no daemon ships it: at the container's whole
 * log budget (max-size × max-file), and 16 MiB at least, so that a burst written faster than
 * the daemon ships it is not cut while the daemon runs.
 */
export function monitorLogSizeMax(limits: LogLimits): number {
  return Math.max(limits.maxSize * limits.maxFile, 16 * 1024 * 1024);
}

/** The rotated files of a log, oldest first (`log.4` … `log.1`), that may exist. */
export function rotatedLogPaths(logPath: string, maxFile: number): string[] {
  const out: string[] = [];
  for (let i = maxFile - 1; i >= 1; i--) out.push(`${logPath}.${i}`);
  return out;
}
