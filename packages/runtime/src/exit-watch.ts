import { closeSync, openSync, readSync, watch } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorPaths } from './monitor.js';

/** How a container's run ended. */
export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
  /**
   * Its monitor (conmon) died before the container did: the daemon killed what was left and
   * recorded 137, as containerd does for a dead shim (its runc shim reports 128 + SIGKILL).
   */
  monitorDied?: boolean;
}

/** The exit code recorded for a container whose monitor died (128 + SIGKILL, as containerd's shim). */
export const MONITOR_DIED_EXIT_CODE = 137;

/** How often the exit file and the monitor are looked at besides inotify (which can miss events). */
const POLL_MS = 1000;
/** How long the container's process may take to go after the SIGKILL that follows its monitor's death. */
const REAP_TIMEOUT_MS = 10_000;

export interface ExitWatchDeps {
  id: string;
  exitDir: string;
  bundle: string;
  /** The exit status conmon recorded, if it has. */
  status(): Promise<ExitStatus | undefined>;
  /** Called once conmon is seen gone without an exit file: {@link recordMonitorDeath}, once per container. */
  monitorDied(): Promise<ExitStatus>;
}

/** What /proc says of a process: its command name, state letter and start time (clock ticks). */
interface ProcStat {
  comm: string;
  state: string;
  startTime: string;
}

/** Holds one /proc/<pid>/stat (a few hundred bytes: the command name is at most 16 of them). */
const statBuffer = Buffer.alloc(4096);

/**
 * Read synchronously into one small buffer: procfs answers from memory at once, and this runs
 * every second for every running container, where `readFile` (which allocates 64 KiB for a
 * file whose size reads 0, as /proc's do, and a promise chain) kept the daemon's memory up.
 */
function procStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let raw: string;
  try {
    const fd = openSync(`/proc/${pid}/stat`, 'r');
    try {
      raw = statBuffer.toString('latin1', 0, readSync(fd, statBuffer, 0, statBuffer.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined; // no such process (any other failure reads as gone, as before)
  }
  const open = raw.indexOf('(');
  const close = raw.lastIndexOf(')');
  // Fields after the command: state is field 3, starttime field 22.
  const rest = raw.slice(close + 2).split(' ', 20);
  return { comm: raw.slice(open + 1, close), state: rest[0] ?? '', startTime: rest[19] ?? '' };
}

const gone = (s: ProcStat | undefined) => s === undefined || s.state === 'Z' || s.state === 'X';

async function readPid(file: string): Promise<number | undefined> {
  const raw = await readFile(file, 'utf8').catch(() => undefined);
  const pid = raw === undefined ? Number.NaN : Number.parseInt(raw.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Watches a container's conmon by its PID (Node has no pidfd to poll): alive while /proc shows
 * the same conmon process (same start time, so a reused PID does not count) not yet a zombie.
 * `undefined` when the container has no conmon PID file (nothing to watch).
 */
async function monitorWatch(bundle: string): Promise<(() => Promise<boolean>) | undefined> {
  const pid = await readPid(monitorPaths(bundle).conmonPidFile);
  if (pid === undefined) return undefined;
  const first = procStat(pid);
  const startTime = first && first.comm === 'conmon' && !gone(first) ? first.startTime : undefined;
  return async () => {
    if (startTime === undefined) return false;
    const now = procStat(pid);
    return !gone(now) && now?.startTime === startTime;
  };
}

/**
 * A container whose monitor died: nothing will write its exit file, nor reap it. Its processes
 * (reparented) are SIGKILLed, their end awaited, and the exit file written as conmon would have.
 */
export async function recordMonitorDeath(deps: {
  id: string;
  exitDir: string;
  bundle: string;
  status(): Promise<ExitStatus | undefined>;
  /** SIGKILLs every process of the container (the OCI runtime's `kill --all`). */
  killAll(): Promise<void>;
}): Promise<ExitStatus> {
  const init = await readPid(monitorPaths(deps.bundle).pidFile);
  // Already stopped (a pipe closed with conmon, say): the OCI runtime refuses, nothing to kill.
  await deps.killAll().catch(() => undefined);
  const deadline = Date.now() + REAP_TIMEOUT_MS;
  while (init !== undefined && !gone(procStat(init)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  const file = join(deps.exitDir, deps.id);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, String(MONITOR_DIED_EXIT_CODE));
  await rename(tmp, file);
  return {
    ...((await deps.status()) ?? { exitCode: MONITOR_DIED_EXIT_CODE, oomKilled: false }),
    monitorDied: true,
  };
}

/**
 * Resolves when the container's run has ended: conmon wrote its exit file, or conmon died
 * without writing one (then see {@link recordMonitorDeath}). inotify on the exit directory
 * answers at once; a poll each second backs it up and looks at the monitor.
 */
export async function waitForExit(deps: ExitWatchDeps, signal?: AbortSignal): Promise<ExitStatus> {
  const done = await deps.status();
  if (done) return done;
  const monitorAlive = await monitorWatch(deps.bundle);
  return new Promise<ExitStatus>((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown, status?: ExitStatus) => {
      if (settled) return;
      settled = true;
      watcher.close();
      clearInterval(poll);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(status!);
    };
    // Once its monitor is found dead, the exit file that appears is the one written for it.
    let dying = false;
    const check = async (withMonitor: boolean): Promise<ExitStatus | undefined> => {
      if (dying) return undefined;
      const status = await deps.status();
      if (status || !withMonitor || !monitorAlive || (await monitorAlive())) return status;
      // conmon writes the exit file before it exits: read again now that it is gone.
      const last = await deps.status();
      if (last || dying) return last;
      dying = true;
      return deps.monitorDied();
    };
    const run = (withMonitor: boolean) => {
      check(withMonitor).then((s) => s && finish(undefined, s), finish);
    };
    const watcher = watch(deps.exitDir, (_event, file) => {
      if (file === deps.id) run(false);
    });
    const poll = setInterval(() => run(true), POLL_MS);
    const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
    signal?.addEventListener('abort', onAbort);
    run(true);
  });
}
