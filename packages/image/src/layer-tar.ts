import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type BlobInfo, type Digest, hashFile, hashFileAside } from './digest.js';
import { restoreXattrs } from './entry-calls.js';
import {
  type LayerLayout,
  type LayerScan,
  type ScanOutcome,
  extractWithTar,
  isEmptyDir,
  knownScan,
  rereadablePath,
  scanLayer,
} from './fast-extract.js';
import { OVERLAY_OPAQUE_XATTR, extractArchive } from './safe-archive.js';

/**
 * A checked layer of fewer entries and bytes than these is written by the JavaScript extractor:
 * starting a `tar` (a fork of the daemon) costs more than the few files it would write. Past
 * them tar is cheaper, in CPU too (a 29 MB file: 20-30 ms against 50-60), except for a layer
 * mostly of symlinks to absolute names (see `mostlyDelayedSymlinks`).
 */
const TAR_MIN_ENTRIES = 64;
const TAR_MIN_BYTES = 1 << 20;
/** Up to this much content a layer mostly of symlinks goes to the careful extractor (see below). */
const SYMLINK_LAYER_MAX_BYTES = 16 << 20;
/** From this size a layer's DiffID is hashed on a worker thread (which takes ~20 ms to start). */
const HASH_ASIDE_MIN_BYTES = 32 << 20;

export interface ApplyLayerOptions {
  /**
   * `overlay`: keep whiteouts in overlayfs' own form (a 0/0 character device, the opaque
   * xattr) so the directory can serve as an overlay lower layer.
   * `apply`: carry the deletions out on the target, flattening the layer onto it.
   */
  whiteouts: 'overlay' | 'apply';
  /** Restore uid/gid from the archive; defaults to true when running as root. */
  sameOwner?: boolean;
  /**
   * `auto` (default): an overlay layer read from a file into an empty directory is pre-scanned
   * in JavaScript and, when every entry checks out, extracted by GNU tar (several times
   * faster); anything unusual takes the JavaScript extractor. `javascript` always does.
   */
  extractor?: 'auto' | 'javascript';
}

export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar stream: the layer's DiffID. */
  diffId: Digest;
  /** Bytes of file content the layer holds (what `docker history` shows as SIZE). */
  contentSize: number;
}

/**
 * Unpacks a (possibly gzip-compressed) layer tarball onto `target`. Every path is resolved
 * inside `target` as if it were the root, so no `..`, absolute path, symlink or hard link in a
 * hostile archive can reach a file outside it.
 */
export async function applyLayer(
  source: Readable,
  target: string,
  options: ApplyLayerOptions,
): Promise<ApplyLayerResult> {
  const sameOwner = options.sameOwner ?? process.getuid?.() === 0;
  const path = rereadablePath(source);
  if (
    path !== undefined &&
    options.whiteouts === 'overlay' &&
    options.extractor !== 'javascript' &&
    (await isEmptyDir(target))
  ) {
    let scan: LayerLayout | undefined;
    let known: { outcome: ScanOutcome } | undefined;
    // A big layer's DiffID is hashed on another core from the start, beside the scan (which
    // has this thread) and the extraction; a small one's here, beside the extraction.
    let aside: { hash: Promise<BlobInfo>; stop: AbortController } | undefined;
    try {
      known = knownScan(source);
      if (known?.outcome instanceof Error) throw known.outcome;
      if (known === undefined && (await stat(path)).size >= HASH_ASIDE_MIN_BYTES) {
        const stop = new AbortController();
        aside = { hash: hashFileAside(path, stop.signal), stop };
        // Awaited below; when the scan or the extraction fails first, nothing else waits for it.
        aside.hash.catch(() => undefined);
      }
      scan = known !== undefined ? known.outcome : await scanLayer(path);
    } catch (err) {
      aside?.stop.abort();
      source.destroy();
      throw err;
    }
    if (scan === undefined) aside?.stop.abort();
    if (scan !== undefined) {
      // The DiffID: from the scan made while the blob was stored, else hashed while the layer
      // is scanned (a big one) and written (the checked headers are all the extraction
      // needs), not before.
      const diffId =
        known?.outcome !== undefined
          ? Promise.resolve((known.outcome as LayerScan).diffId)
          : (aside?.hash ?? hashFile(path)).then((blob) => blob.digest);
      // Awaited below; when the extraction fails first, nothing else waits for it.
      diffId.catch(() => undefined);
      const small = scan.entries.length < TAR_MIN_ENTRIES && scan.contentSize < TAR_MIN_BYTES;
      // A layer mostly of symlinks GNU tar would make twice (busybox's: 268 of 290 entries): the
      // careful extractor makes each once. Measured on busybox, 10 runs each: 28 vs 27 ms where
      // creating a file is cheap; 200 vs 360 ms where it cost 0.6 ms (ext4 passing over inodes
      // freed in the last minutes, as after an `rmi`).
      const mostlyDelayedSymlinks =
        scan.delayedSymlinks * 2 >= scan.entries.length && scan.contentSize < SYMLINK_LAYER_MAX_BYTES;
      if (small || mostlyDelayedSymlinks) {
        const { contentSize } = await extractArchive(source, target, {
          whiteouts: 'overlay',
          sameOwner,
          calls: 'direct',
        });
        return { diffId: await diffId, contentSize };
      }
      source.destroy();
      try {
        await extractWithTar(path, target, scan, {
          sameOwner,
          setOpaque: (dirs) =>
            restoreXattrs(
              dirs.map((d) => ({ path: d, name: OVERLAY_OPAQUE_XATTR, value: Buffer.from('y') })),
            ),
        });
      } catch {
        aside?.stop.abort();
        // GNU tar disagreed with the archive (or is missing): start over the careful way.
        for (const child of await readdir(target))
          await rm(join(target, child), { recursive: true, force: true });
        return applyLayerJs(createReadStream(path), target, options, sameOwner);
      }
      return { diffId: await diffId, contentSize: scan.contentSize };
    }
  }
  return applyLayerJs(source, target, options, sameOwner);
}

async function applyLayerJs(
  source: Readable,
  target: string,
  options: ApplyLayerOptions,
  sameOwner: boolean,
): Promise<ApplyLayerResult> {
  const { diffId, contentSize } = await extractArchive(source, target, {
    whiteouts: options.whiteouts,
    sameOwner,
    digest: true,
    // A layer goes into the daemon's own storage (see entry-calls.ts).
    calls: 'direct',
  });
  return { diffId: diffId!, contentSize };
}
