import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import { execa } from 'execa';
import type { ArchiveSpan, LayerLayout } from './fast-extract.js';

/** Below this many entries one tar process is as fast: starting more costs more than it saves. */
const MIN_ENTRIES = 2_000;
/** The bytes handed to a tar process at a time. */
const READ_SIZE = 1024 * 1024;
/** Reads up to this size are made on this thread (see feedSpans). */
const DIRECT_READ_MAX = 64 * 1024;

/**
 * Whether a checked layer can be extracted by several tar processes at once: it is large, its
 * entries can be split (no global header, every parent a directory entry, no name seen twice:
 * the scan checked that), we run as root (directories are created first with their final
 * modes; only root may write into a read-only one) and there is more than one core.
 */
export function canSplit(scan: LayerLayout): boolean {
  return (
    scan.splittable &&
    scan.entries.length >= MIN_ENTRIES &&
    process.getuid?.() === 0 &&
    availableParallelism() > 1
  );
}

/**
 * Extracts a pre-scanned plain tarball with several GNU tar processes: the entries but
 * directories and hard links split into one contiguous part per core, side by side (a layer of
 * small files is bound by per-file system calls, which one tar makes one after the other), each
 * part after every directory (so that its tree exists: a directory another process made first
 * is taken as it is and given the entry's attributes again), then hard links, whose targets
 * must exist. Each process reads only the byte spans of its entries, followed by the
 * end-of-archive blocks. Writing the files bumps their directories' modification times: the
 * caller puts the archive's back.
 */
export async function extractInParts(
  path: string,
  target: string,
  scan: LayerLayout,
  tarArgs: readonly string[],
): Promise<void> {
  const run = async (spans: ArchiveSpan[]) => {
    const tar = execa('tar', ['-x', '-f', '-', '-C', target, ...tarArgs], {
      stdin: 'pipe',
      stdout: 'ignore',
    });
    // Settles once tar has every byte or stopped reading (tar's own failure is the one told).
    const fed = feedSpans(path, spans, tar.stdin!).then(
      () => undefined,
      (err: unknown) => err,
    );
    await tar;
    const failure = await fed;
    if (failure !== undefined) throw failure;
  };
  const directories = scan.entries.filter((e) => e.kind === 'directory');
  const links = scan.entries.filter((e) => e.kind === 'link');
  const parts = splitByBytes(
    scan.entries.filter((e) => e.kind === 'other'),
    availableParallelism(),
  );
  // Every part brings the directories (one at least does, in a layer of directories alone).
  if (parts.length === 0) parts.push([]);
  await Promise.all(parts.map((spans) => run([...directories, ...spans])));
  if (links.length > 0) await run(links);
}

/** `parts` runs of consecutive spans holding about the same number of bytes each. */
function splitByBytes(spans: ArchiveSpan[], parts: number): ArchiveSpan[][] {
  const total = spans.reduce((sum, s) => sum + (s.end - s.start), 0);
  const out: ArchiveSpan[][] = [];
  let current: ArchiveSpan[] = [];
  let bytes = 0;
  for (const span of spans) {
    current.push(span);
    bytes += span.end - span.start;
    if (bytes >= (total / parts) * (out.length + 1) && out.length < parts - 1) {
      out.push(current);
      current = [];
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Writes the bytes of `spans` (in order), then two zero blocks, into `sink`, and ends it. They
 * are gathered in one buffer, written when full and filled again once the pipe has taken it (a
 * buffer per read would make garbage as big as the layer). Small spans (a directory's header)
 * are read with direct calls: one thread-pool round trip per 512-byte header made the pass of
 * a layer's 124 directories take 90-140 ms on a busy machine.
 */
async function feedSpans(path: string, spans: ArchiveSpan[], sink: Writable): Promise<void> {
  const write = (data: Buffer) =>
    new Promise<void>((resolve, reject) => sink.write(data, (err) => (err ? reject(err) : resolve())));
  // A write to a tar that exited fails in its callback; the stream's error event adds nothing.
  sink.on('error', () => undefined);
  const buf = Buffer.allocUnsafe(READ_SIZE);
  let filled = 0;
  const flush = async () => {
    if (filled > 0) await write(buf.subarray(0, filled));
    filled = 0;
  };
  const fh = await open(path, 'r');
  try {
    for (let i = 0; i < spans.length; ) {
      const start = spans[i]!.start;
      let end = spans[i]!.end;
      for (i++; i < spans.length && spans[i]!.start === end; i++) end = spans[i]!.end;
      for (let at = start; at < end; ) {
        if (filled === buf.length) await flush();
        const want = Math.min(buf.length - filled, end - at);
        const bytesRead =
          want <= DIRECT_READ_MAX
            ? readSync(fh.fd, buf, filled, want, at)
            : (await fh.read(buf, filled, want, at)).bytesRead;
        if (bytesRead === 0) throw new Error(`${path} shrank while being extracted`);
        at += bytesRead;
        filled += bytesRead;
      }
    }
    if (buf.length - filled < 1024) await flush();
    buf.fill(0, filled, filled + 1024);
    filled += 1024;
    await flush();
    sink.end();
  } catch (err) {
    // tar sees the end of its input and fails: the caller hears from both.
    sink.destroy();
    throw err;
  } finally {
    await fh.close();
  }
}
