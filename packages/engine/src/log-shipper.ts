import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, appendFile, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '@ts-container/common';
import { type LogRecord, formatJsonLogLine, parseLogLine } from '@ts-container/runtime';
import { z } from 'zod';
import type { ContainerRecord } from './container-store.js';
import { logLimits, rotatedLogPaths } from './log-rotation.js';

/** conmon's log of a container (k8s-file), beside its json-file log: the spool we ship from. */
export function monitorLogPath(c: Pick<ContainerRecord, 'LogPath'>): string {
  return join(dirname(c.LogPath), 'monitor.log');
}

/** How far the spool has been shipped: its inode (conmon replaces the file when it truncates) and offset. */
const ShippedSchema = z.object({ ino: z.number(), offset: z.number().int().nonnegative() });
type Shipped = z.infer<typeof ShippedSchema>;

/** The spool being read: the open file (kept open so a replaced spool can still be finished). */
interface Reader {
  fh: FileHandle;
  /** `monitor.log`, or `monitor.log.old` once renamed for rotation. */
  path: string;
  ino: number;
  offset: number;
}

/** Shipped this far, the spool is rotated. */
const SPOOL_ROTATE_AT = 1024 * 1024;
/** At most this much of the spool is read and converted at once. */
const READ_CHUNK = 4 * 1024 * 1024;

/**
 * Keeps each container's log in Docker's json-file format, rotated at max-size × max-file.
 *
 * conmon, the monitor that outlives the daemon, can only write its k8s-file format. It writes
 * to a spool (`monitor.log`); this ships new records from it into `<id>-json.log` (the file
 * `inspect` shows as LogPath, which log collectors read), as dockerd copies a container's
 * output into its json-file. Shipping runs on every change of the spool (fs.watch), before a
 * `logs` request, and once more when the container ends, before anyone hears that it did.
 *
 * The spool is rotated here: once 1 MiB of it is shipped, it is renamed `monitor.log.old` and
 * conmon is told to reopen its log path; the old one is read to its end (conmon may write a
 * little more to it before the message reaches it) and removed when conmon's new spool
 * appears. conmon's own --log-size-max (monitorLogSizeMax) replaces the file at once, losing
 * what nobody read yet, so it is only the bound for when no daemon ships.
 *
 * The daemon may die at any time: how far the spool was shipped is kept next to it, so a
 * restarted daemon ships what the container wrote meanwhile (a record may repeat after a
 * crash mid-batch; none is lost).
 */
export class LogShipper {
  private readonly queues = new Map<string, Promise<boolean>>();
  private readonly watchers = new Map<string, FSWatcher>();
  /**
   * Containers whose spool was shipped in full and is gone, until their next run: a `logs`
   * request has nothing to ship for them (and no file to look for).
   */
  private readonly spoolGone = new Set<string>();
  private readonly readers = new Map<string, Reader>();

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    /** Tells the container's conmon to reopen its log path (after the spool was renamed). */
    private readonly reopenLog: (id: string) => Promise<void>,
  ) {}

  /**
   * Ships what the container's monitor wrote since the last call (calls queue per container);
   * false when it failed (said in the log; the spool keeps what was not shipped).
   */
  ship(c: ContainerRecord): Promise<boolean> {
    if (this.spoolGone.has(c.Id) && !this.queues.has(c.Id)) return Promise.resolve(true);
    return this.enqueue(c, () => this.drain(c));
  }

  /**
   * Runs `task` after the container's queued ones, so no two of them ever touch its spool at
   * once; false when it failed (said in the log).
   */
  private enqueue(c: ContainerRecord, task: () => Promise<void>): Promise<boolean> {
    const previous = this.queues.get(c.Id) ?? Promise.resolve(true);
    const settled = previous.then(task).then(
      () => true,
      (err: unknown) => {
        this.logger.warn(`log of ${c.Id.slice(0, 12)}: ${String(err)}`);
        return false;
      },
    );
    this.queues.set(c.Id, settled);
    void settled.then(() => {
      if (this.queues.get(c.Id) === settled) this.queues.delete(c.Id);
    });
    return settled;
  }

  /** Ships as the container writes, until `finish`. */
  follow(c: ContainerRecord): void {
    this.spoolGone.delete(c.Id);
    if (this.watchers.has(c.Id)) return;
    const spool = basename(monitorLogPath(c));
    const watcher = watch(dirname(c.LogPath), (_event, name) => {
      if (name === null || name === spool) void this.ship(c);
    });
    watcher.on('error', (err) =>
      this.logger.warn(`watching the log of ${c.Id.slice(0, 12)}: ${err.message}`),
    );
    this.watchers.set(c.Id, watcher);
    void this.ship(c);
  }

  /**
   * The container ended (its conmon is gone): ships the rest, stops following it, and removes
   * the spool once all of it is in the json-file log.
   */
  async finish(c: ContainerRecord): Promise<void> {
    this.watchers.get(c.Id)?.close();
    this.watchers.delete(c.Id);
    // One queued task from the last read to the spool's removal: a `logs` request's ship in
    // between would reopen the spool after its offset file went, and ship it all again.
    await this.enqueue(c, async () => {
      const shipped = await this.drain(c).then(
        () => true,
        (err: unknown) => {
          this.logger.warn(`log of ${c.Id.slice(0, 12)}: ${String(err)}`);
          return false; // the spool keeps what was not shipped
        },
      );
      const reader = this.readers.get(c.Id);
      this.readers.delete(c.Id);
      await reader?.fh.close();
      // No reader: no spool was there to ship (most stopped containers at daemon start).
      if (shipped && reader) await this.removeSpool(c);
      if (shipped) this.spoolGone.add(c.Id);
    });
  }

  /** The container is gone: nothing of it is kept. */
  forget(id: string): void {
    this.spoolGone.delete(id);
  }

  private async removeSpool(c: ContainerRecord): Promise<void> {
    for (const path of [monitorLogPath(c), oldSpoolPath(c), shippedPath(c)]) await rm(path, { force: true });
  }

  /** A new run starts a new spool (the json-file log goes on, as Docker keeps it across restarts). */
  async reset(c: ContainerRecord): Promise<void> {
    await this.finish(c);
    await this.removeSpool(c);
    // Its monitor writes a new spool from here on.
    this.spoolGone.delete(c.Id);
  }

  private async drain(c: ContainerRecord): Promise<void> {
    const spool = monitorLogPath(c);
    for (;;) {
      const reader = await this.reader(c);
      if (!reader) return;
      // Looked at before reading: once conmon writes to a new spool, it never writes to this
      // one again, so what is read below is all of it.
      const current = await stat(spool).catch(() => undefined);
      const replaced = current !== undefined && current.ino !== reader.ino;
      const size = (await reader.fh.stat()).size;
      if (size < reader.offset) reader.offset = 0; // truncated in place: start at the top
      // In chunks: a daemon back from a crash may find up to max-size × max-file waiting.
      while (size > reader.offset) {
        const buf = Buffer.alloc(Math.min(size - reader.offset, READ_CHUNK));
        const { bytesRead } = await reader.fh.read(buf, 0, buf.length, reader.offset);
        const end = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (end < 0) break; // a line still being written (conmon's lines are far below a chunk)
        const records: LogRecord[] = [];
        for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
          const r = parseLogLine(line);
          if (r) records.push(r);
        }
        await this.append(c, records);
        reader.offset += end + 1;
        await saveShipped(c, { ino: reader.ino, offset: reader.offset });
      }
      if (replaced) {
        await reader.fh.close();
        this.readers.delete(c.Id);
        if (reader.path !== spool) await rm(reader.path, { force: true });
        await saveShipped(c, { ino: current.ino, offset: 0 });
        continue;
      }
      if (reader.path === spool && reader.offset >= SPOOL_ROTATE_AT) {
        await rename(spool, oldSpoolPath(c));
        reader.path = oldSpoolPath(c);
        await this.reopenLog(c.Id).catch((err: unknown) => {
          // Its conmon is gone (the container ended): finish() reads the rest.
          this.logger.warn(`reopening the log of ${c.Id.slice(0, 12)}: ${String(err)}`);
        });
      }
      return;
    }
  }

  /** Opens the spool to read: a renamed one first (older records), else conmon's current one. */
  private async reader(c: ContainerRecord): Promise<Reader | undefined> {
    const open_ = this.readers.get(c.Id);
    if (open_) return open_;
    for (const path of [oldSpoolPath(c), monitorLogPath(c)]) {
      let fh: FileHandle;
      try {
        fh = await open(path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const ino = (await fh.stat()).ino;
      const shipped = await loadShipped(c);
      const reader = { fh, path, ino, offset: shipped?.ino === ino ? shipped.offset : 0 };
      this.readers.set(c.Id, reader);
      return reader;
    }
    return undefined;
  }

  /** Appends records to the json-file log, rotating it first when they would pass max-size. */
  private async append(c: ContainerRecord, records: LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    const { maxSize, maxFile } = logLimits(c);
    let size = (await stat(c.LogPath).catch(() => ({ size: 0 }))).size;
    let chunk = '';
    let pending = 0;
    for (const r of records) {
      const line = formatJsonLogLine(r);
      const bytes = Buffer.byteLength(line);
      // A record larger than max-size on its own still goes into a file of its own.
      if (size + pending > 0 && size + pending + bytes > maxSize) {
        if (chunk) await appendFile(c.LogPath, chunk);
        await rotate(c.LogPath, maxFile);
        chunk = '';
        size = 0;
        pending = 0;
      }
      chunk += line;
      pending += bytes;
    }
    if (chunk) await appendFile(c.LogPath, chunk);
  }
}

/** Docker's json-file rotation: `log` → `log.1` → … → `log.<max-file − 1>`, the oldest dropped. */
async function rotate(logPath: string, maxFile: number): Promise<void> {
  if (maxFile <= 1) {
    await rm(logPath, { force: true });
    return;
  }
  const paths = rotatedLogPaths(logPath, maxFile); // oldest first
  await rm(paths[0]!, { force: true });
  for (let i = 1; i < paths.length; i++) {
    await rename(paths[i]!, paths[i - 1]!).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err; // not rotated that far yet
    });
  }
  await rename(logPath, `${logPath}.1`);
}

function oldSpoolPath(c: Pick<ContainerRecord, 'LogPath'>): string {
  return `${monitorLogPath(c)}.old`;
}

function shippedPath(c: Pick<ContainerRecord, 'LogPath'>): string {
  return `${monitorLogPath(c)}.shipped`;
}

async function loadShipped(c: ContainerRecord): Promise<Shipped | undefined> {
  const text = await readFile(shippedPath(c), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  try {
    const parsed = ShippedSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // unreadable: ship the spool again (records may repeat, none is lost)
  }
}

/** Written by rename, without fsync: it is rewritten on every batch, and a stale one only repeats records. */
async function saveShipped(c: ContainerRecord, shipped: Shipped): Promise<void> {
  const path = shippedPath(c);
  await writeFile(`${path}.tmp`, JSON.stringify(shipped));
  await rename(`${path}.tmp`, path);
}
