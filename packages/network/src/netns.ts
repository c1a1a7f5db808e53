import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run, tryRun } from './exec.js';
import type { Logger } from './logger.js';

/**
 * Creates a persistent network namespace bound to `path` (the same mechanism as `ip netns add`:
 * a bind mount of the namespace onto a file), with `lo` up. The OCI runtime joins it through
 * `linux.namespaces[{ type: "network", path }]`.
 */
export async function createNetns(path: string, options: { logger?: Logger } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'a');
  await handle.close();
  try {
    await run('unshare', [`--net=${path}`, 'true'], options);
    await run('nsenter', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up'], options);
  } catch (err) {
    await removeNetns(path);
    throw err;
  }
}

/** Unmounts and deletes a namespace file made by createNetns; a missing file is not an error. */
export async function removeNetns(path: string, options: { logger?: Logger } = {}): Promise<void> {
  // Lazy unmount: a process still inside keeps the namespace alive, but the file goes away.
  while (await isNetnsMounted(path)) {
    if (!(await tryRun('umount', ['-l', path], options))) break;
  }
  await rm(path, { force: true });
}

/** Whether `path` is a bound network namespace (not just a leftover empty file). */
export async function netnsExists(path: string): Promise<boolean> {
  try {
    await stat(path);
  } catch {
    return false;
  }
  return isNetnsMounted(path);
}

async function isNetnsMounted(path: string): Promise<boolean> {
  // A bound namespace file is an nsfs mount point; findmnt exits non-zero otherwise.
  return tryRun('findmnt', ['--noheadings', '--mountpoint', path]);
}

/** Runs a command inside the namespace (nsenter --net); stdout is returned. */
export function execInNetns(
  path: string,
  command: readonly string[],
  options: { input?: string; logger?: Logger } = {},
): Promise<string> {
  return run('nsenter', [`--net=${path}`, ...command], options);
}
