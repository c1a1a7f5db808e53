import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type ArchiveImage,
  type Digest,
  ImageConfigSchema,
  type LayerSource,
  type ReadArchiveResult,
  type ScanOutcome,
  decompressStream,
  familiarName,
  formatReference,
  hashFile,
  openScannedLayer,
  parseReference,
  readImageArchive,
  repositoryName,
  writeImageArchive,
} from '@ts-container/image';
import { EarlyLayers } from './early-layers.js';
import { invalidParameter, notFound } from './errors.js';
import type { ImageService } from './images.js';

/** The lines of Docker's `/images/load` JSON stream (`{"stream":"Loaded image: …\n"}`). */
export type LoadMessage = { stream: string };

/**
 * `docker save`: which images, under which names. A name with a tag saves that tag; a bare
 * repository saves all its tags (as Docker does); an ID saves the image without names.
 */
export async function resolveSaveSet(images: ImageService, names: string[]): Promise<ArchiveImage[]> {
  const byId = new Map<string, ArchiveImage>();
  for (const name of names) {
    let ref: ReturnType<typeof parseReference> | undefined;
    try {
      ref = parseReference(name, { defaultTag: false });
    } catch {
      ref = undefined;
    }
    let refs: string[] = [];
    if (ref !== undefined && ref.digest === undefined) {
      const repo = repositoryName(ref);
      const wanted = ref.tag !== undefined ? formatReference(ref) : undefined;
      refs = images.store
        .allTags()
        .map(([t]) => t)
        .filter((t) => (wanted !== undefined ? t === wanted : t.startsWith(`${repo}:`)));
    }
    for (const tagged of refs) await addImage(images, byId, images.store.lookup(tagged)!, [tagged]);
    if (refs.length === 0) await addImage(images, byId, images.store.resolve(name), []);
  }
  return [...byId.values()];
}

async function addImage(
  images: ImageService,
  byId: Map<string, ArchiveImage>,
  id: string,
  refs: string[],
): Promise<void> {
  const existing = byId.get(id);
  if (existing) {
    for (const r of refs) if (!existing.references.includes(r)) existing.references.push(r);
    return;
  }
  const config = await images.content.read(id);
  const parsed = ImageConfigSchema.parse(JSON.parse(config.toString('utf8')));
  byId.set(id, { id: id as Digest, config, diffIds: [...parsed.rootfs.diff_ids], references: [...refs] });
}

/**
 * The uncompressed tarball of a layer: its blob when the store keeps it uncompressed (imported,
 * committed, built or loaded), else the decompressed registry blob, staged in `tmpDir`.
 */
export async function layerSourceFor(
  images: ImageService,
  imageIds: string[],
  diffId: string,
  tmpDir: string,
): Promise<LayerSource> {
  const size = await images.content.size(diffId);
  if (size !== undefined) return { size, open: () => images.content.createReadStream(diffId) };
  for (const id of imageIds) {
    const image = await images.store.get(id);
    const index = image.config.rootfs.diff_ids.indexOf(diffId);
    const blob = image.record.layers?.[index];
    if (index < 0 || !blob || !(await images.content.has(blob.digest))) continue;
    await mkdir(tmpDir, { recursive: true });
    const path = join(tmpDir, diffId.replace(/^sha256:/, ''));
    const fh = await open(path, 'w');
    await pipeline(
      await decompressStream(images.content.createReadStream(blob.digest)),
      fh.createWriteStream(),
    );
    const actual = await hashFile(path);
    if (actual.digest !== diffId) {
      await rm(path, { force: true });
      throw invalidParameter(
        `layer ${blob.digest}: uncompressed content has DiffID ${actual.digest}, not ${diffId}`,
      );
    }
    return { size: (await stat(path)).size, open: () => createReadStream(path) };
  }
  throw notFound(`layer does not exist: ${diffId}`);
}

/** `docker save`: a tar stream of the images; staged files are removed when it ends. */
export async function saveImages(images: ImageService, names: string[], tmpRoot: string): Promise<Readable> {
  if (names.length === 0) throw invalidParameter('no images specified');
  const set = await resolveSaveSet(images, names);
  const tmpDir = join(tmpRoot, `save-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const ids = set.map((i) => i.id);
  const stream = writeImageArchive(set, (diffId) => layerSourceFor(images, ids, diffId, tmpDir));
  const cleanup = () => void rm(tmpDir, { recursive: true, force: true });
  stream.once('close', cleanup);
  stream.once('end', cleanup);
  stream.once('error', cleanup);
  return stream;
}

/**
 * `docker load`: reads the archive into the content store, unpacks the layers and creates the
 * images, then tags them. Crash-safe by construction: blobs appear only verified, layers only
 * once fully unpacked, the image record only after both; whatever a crash leaves behind is
 * unreferenced and goes at the next garbage collection. Everything this load stores is
 * leased until it returns, so a concurrent prune cannot take it.
 */
export async function loadImages(
  images: ImageService,
  source: Readable,
  emit: (message: LoadMessage) => void,
): Promise<string[]> {
  const lease = images.leases.create();
  try {
    const open = (digest: string, scan: ScanOutcome) => openScannedLayer(images.content.path(digest), scan);
    const early = new EarlyLayers(
      images.snapshotter,
      open,
      (key) => lease.add(key),
      async (digest, data) => {
        lease.add(digest);
        await images.content.put(data);
      },
    );
    let archive: ReadArchiveResult;
    try {
      archive = await readImageArchive(
        source,
        images.content,
        (d) => lease.add(d),
        (file) => early.onFile(file),
      );
    } finally {
      await early.settle();
    }
    if (archive.images.length === 0) throw invalidParameter('no images found in the archive');
    const loaded: string[] = [];
    for (const item of archive.images) {
      const config = ImageConfigSchema.parse(JSON.parse(item.config.toString('utf8')));
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== item.layers.length)
        throw invalidParameter('invalid archive: config and manifest disagree on the number of layers');
      const blobOf = new Map(diffIds.map((d, i) => [d, item.layers[i]!.digest]));
      const openBlob = (digest: string) =>
        archive.scans.has(digest)
          ? open(digest, archive.scans.get(digest))
          : images.content.createReadStream(digest);
      for (const key of await images.ensureLayers(diffIds, (d) => blobOf.get(d)!, openBlob)) lease.add(key);
      const id = await images.store.create(config, {
        rawConfig: item.config,
        // Uncompressed layers are the DiffIDs themselves: nothing more to remember.
        ...(item.layers.some((l, i) => l.digest !== diffIds[i]) ? { layers: item.layers } : {}),
      });
      if (id !== item.configDigest) throw invalidParameter('invalid archive: config digest mismatch');
      loaded.push(id);
      if (item.references.length === 0) {
        emit({ stream: `Loaded image ID: ${id}\n` });
        continue;
      }
      for (const name of item.references) {
        const ref = parseReference(name);
        const previous = await images.store.tag(id, formatReference(ref));
        const familiar = familiarName(ref);
        if (previous !== undefined)
          emit({
            stream: `The image ${familiar} already exists, renaming the old one with ID ${previous} to empty string\n`,
          });
        emit({ stream: `Loaded image: ${familiar}\n` });
      }
    }
    return loaded;
  } catch (err) {
    lease.release();
    await images.dropUnreferencedBlobs(lease.items());
    throw err;
  } finally {
    lease.release();
  }
}
