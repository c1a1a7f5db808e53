import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '@ts-container/common';
import { run, tryRun } from './exec.js';

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
    // One process: unshare binds the new namespace to `path`, then runs `ip` inside it.
    await run('unshare', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up'], options);
  } catch (err) {
    await removeNetns(path);
    throw err;
  }
}

/** Unmounts and deletes a namespace file made by createNetns; a missing file is not an error. */
export async function removeNetns(path: string, options: { logger?: Logger } = {}): Promise<void> {
  // Lazy unmount: a process still inside keeps the namespace alive, but the file goes away.
  for (let mounts = await mountCount(path); mounts > 0; mounts--) {
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
  return (await mountCount(path)) > 0;
}

/**
 * How many mounts sit on `path` (a bound namespace file is an nsfs mount point), read from
 * mountinfo rather than by running findmnt: this is on every container's start and stop.
 */
async function mountCount(path: string): Promise<number> {
  // mountinfo escapes space, tab, newline and backslash in paths as octal.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  let count = 0;
  for (const line of mountinfo.split('\n')) if (line.split(' ')[4] === escaped) count++;
  return count;
}

/** Runs a command inside the namespace (nsenter --net); stdout is returned. */
export function execInNetns(
  path: string,
  command: readonly string[],
  options: { input?: string; logger?: Logger } = {},
): Promise<string> {
  return run('nsenter', [`--net=${path}`, ...command], options);
}
