import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hostPlatform } from '@ts-container/common';
import tar from 'tar-stream';
import { decompressStream, detectCompression } from './compression.js';
import type { ContentStore } from './content-store.js';
import { type Digest, digestHex, isDigest, sha256Digest } from './digest.js';
import { ImageError } from './errors.js';
import { archiveFailure } from './errors.js';
import { LayerScanner, type ScanOutcome } from './fast-extract.js';
import {
  type Descriptor,
  type ImageIndex,
  IndexSchema,
  type Manifest,
  ManifestSchema,
  MediaType,
} from './oci.js';

/** One image to write into a `docker save` archive. */
export interface ArchiveImage {
  /** Image ID (the config digest). */
  id: Digest;
  /** The config blob exactly as stored (its digest is the ID). */
  config: Buffer;
  diffIds: string[];
  /**
   * References the archive names the image by, fully qualified (`docker.io/library/busybox:latest`);
   * empty when the image was saved by ID.
   */
  references: string[];
}

/** An uncompressed layer tarball whose sha256 is its DiffID. */
export interface LayerSource {
  size: number;
  open(): Readable;
}

const OCI_LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });

/**
 * Writes images as Docker 25+ `docker save` does: a docker-archive (`manifest.json`,
 * `repositories`) whose files live in an OCI image layout (`oci-layout`, `index.json`,
 * `blobs/sha256/…`), so both `docker load` and OCI tools (skopeo, umoci) read it.
 * Layers are written uncompressed, under their DiffID.
 */
export function writeImageArchive(
  images: ArchiveImage[],
  layer: (diffId: string) => Promise<LayerSource>,
): Readable {
  const pack = tar.pack();
  const mtime = new Date(0);
  const addBuffer = (name: string, data: Buffer | string) =>
    new Promise<void>((resolve, reject) =>
      pack.entry({ name, mode: 0o644, mtime }, data, (err) => (err ? reject(err) : resolve())),
    );
  const addStream = async (name: string, source: LayerSource) => {
    const sink = pack.entry({ name, mode: 0o644, mtime, size: source.size });
    await pipeline(source.open(), sink);
  };
  void (async () => {
    const written = new Set<string>();
    const manifestJson: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
    const repositories: Record<string, Record<string, string>> = {};
    const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime });
    pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime });
    for (const image of images) {
      const layers: Descriptor[] = [];
      for (const diffId of image.diffIds) {
        const source = await layer(diffId);
        if (!written.has(diffId)) {
          await addStream(blobPath(diffId), source);
          written.add(diffId);
        }
        layers.push({ mediaType: MediaType.OciLayer, digest: diffId, size: source.size });
      }
      if (!written.has(image.id)) {
        await addBuffer(blobPath(image.id), image.config);
        written.add(image.id);
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, digest: image.id, size: image.config.length },
          layers,
        }),
      );
      const manifestDigest = sha256Digest(manifest);
      if (!written.has(manifestDigest)) {
        await addBuffer(blobPath(manifestDigest), manifest);
        written.add(manifestDigest);
      }
      const descriptor = { mediaType: MediaType.OciManifest, digest: manifestDigest, size: manifest.length };
      if (image.references.length === 0) index.manifests.push(descriptor);
      const familiar: string[] = [];
      for (const ref of image.references) {
        const name = familiarTag(ref);
        familiar.push(name);
        const colon = name.lastIndexOf(':');
        (repositories[name.slice(0, colon)] ??= {})[name.slice(colon + 1)] = digestHex(image.id);
        index.manifests.push({
          ...descriptor,
          annotations: {
            'io.containerd.image.name': ref,
            'org.opencontainers.image.ref.name': ref.slice(ref.lastIndexOf(':') + 1),
          },
        });
      }
      manifestJson.push({
        Config: blobPath(image.id),
        RepoTags: familiar.length > 0 ? familiar : null,
        Layers: image.diffIds.map(blobPath),
      });
    }
    await addBuffer('index.json', JSON.stringify(index));
    await addBuffer('manifest.json', JSON.stringify(manifestJson));
    await addBuffer('oci-layout', OCI_LAYOUT);
    if (Object.keys(repositories).length > 0) await addBuffer('repositories', JSON.stringify(repositories));
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

function blobPath(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** `docker.io/library/busybox:latest` → `busybox:latest`, as manifest.json's RepoTags have it. */
function familiarTag(ref: string): string {
  return ref.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

/** An image found in an archive, its blobs already in the content store. */
export interface ArchiveEntryImage {
  configDigest: Digest;
  config: Buffer;
  /** Layer blobs as stored (compressed or not), bottom first. */
  layers: Descriptor[];
  /** Names the archive gives the image (as written, e.g. `busybox:latest`). */
  references: string[];
}

export interface ReadArchiveResult {
  images: ArchiveEntryImage[];
  /** Every blob this read put into the content store (for the caller's GC lease and cleanup). */
  blobs: Digest[];
  /** The layer pre-scan of each big blob, made as it was stored: see `openScannedLayer`. */
  scans: Map<Digest, ScanOutcome>;
}

/**
 * A file of an archive being read: a small one with its bytes (not yet stored), or a big one
 * once its blob is in the content store, with its layer pre-scan.
 */
export interface ArchiveFileEvent {
  digest: Digest;
  data?: Buffer;
  scan?: ScanOutcome;
  /** A big file's blob was in the content store before this read stored it. */
  existed?: boolean;
}

/** Files at most this big are kept in memory while reading; bigger ones stream to the store. */
const SMALL_FILE = 1 << 20;

interface ArchiveFile {
  digest: Digest;
  size: number;
  head: Buffer;
  data?: Buffer;
  /** What the layer pre-scan made of a big file (see LayerScanner). */
  scan?: ScanOutcome;
}

/**
 * Reads a `docker save` archive (docker-archive, with or without its OCI layout) or an OCI
 * image layout tarball, plain or gzip-compressed, streaming every file into the content
 * store as it passes. Entry names are only used as keys, never as paths, so a hostile
 * archive cannot write outside the store. `onBlob` is told of each blob as soon as it is
 * stored, so the caller can protect it from garbage collection before the read ends; `onFile`
 * of each file as it is read (a big one once stored), so the caller can start on it early.
 */
export async function readImageArchive(
  source: Readable,
  content: ContentStore,
  onBlob: (digest: Digest) => void = () => undefined,
  onFile: (file: ArchiveFileEvent) => void = () => undefined,
): Promise<ReadArchiveResult> {
  const files = new Map<string, ArchiveFile>();
  const links = new Map<string, string>();
  const blobs: Digest[] = [];
  const commits: Promise<void>[] = [];
  const extract = tar.extract();
  let counter = 0;
  // Each big file is stored (and its layer headers scanned) as it passes; its blob is flushed,
  // synced and published in the background while the archive goes on.
  const ingest = async (entry: AsyncIterable<Buffer>): Promise<ArchiveFile> => {
    // Published without waiting for the fsync (verified after a crash: see UnsyncedBlobs).
    const writer = await content.openIngest(`load-${process.pid}-${Date.now()}-${counter++}`, {
      resume: false,
      sync: 'later',
    });
    const scanner = new LayerScanner({ hash: false });
    let head = Buffer.alloc(0);
    let size = 0;
    try {
      for await (const chunk of entry) {
        if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
        size += chunk.length;
        scanner.push(chunk);
        await writer.write(chunk);
      }
    } catch (err) {
      await writer.abort();
      throw err;
    }
    const digest = writer.digest();
    const scan = scanner.finish(digest);
    const committed = content.has(digest).then(async (existed) => {
      const blob = await writer.commit(digest, size);
      onBlob(blob.digest);
      blobs.push(blob.digest);
      onFile({ digest, scan, existed });
    });
    commits.push(committed);
    // Seen (and reported) below, once the whole archive is read.
    committed.catch(() => undefined);
    return { digest, size, head, scan };
  };
  const consume = (async () => {
    for await (const entry of extract) {
      const { header } = entry;
      const name = cleanName(header.name);
      if (header.type === 'symlink' || header.type === 'link') {
        const target = header.linkname ?? '';
        links.set(
          name,
          header.type === 'symlink' ? cleanName(posix.join(posix.dirname(name), target)) : cleanName(target),
        );
        entry.resume();
        continue;
      }
      if (header.type !== 'file' && header.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      if ((header.size ?? 0) <= SMALL_FILE) {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        const data = Buffer.concat(chunks);
        const digest = sha256Digest(data);
        files.set(name, { digest, size: data.length, head: data.subarray(0, 4), data });
        onFile({ digest, data });
        continue;
      }
      files.set(name, await ingest(entry as unknown as AsyncIterable<Buffer>));
    }
  })().catch((err: unknown) => {
    // The archive is read no further: let the read end too.
    extract.destroy(err as Error);
    throw err;
  });
  const [read, consumed] = await Promise.allSettled([
    decompressStream(source).then((plain) => pipeline(plain, extract)),
    consume,
  ]);
  const stored = await Promise.allSettled(commits);
  // Not a tar, cut short, or the disk full: the client's fault is a 4xx, never a 500.
  for (const outcome of [read, consumed, ...stored])
    if (outcome.status === 'rejected') throw archiveFailure(outcome.reason);

  const lookup = (path: string): ArchiveFile => {
    let name = cleanName(path);
    for (let hops = 0; hops < 40 && !files.has(name) && links.has(name); hops++) name = links.get(name)!;
    const file = files.get(name);
    if (!file) throw new ImageError('invalid-parameter', `invalid archive: ${path} not found in the archive`);
    return file;
  };
  const storeFile = async (file: ArchiveFile): Promise<Digest> => {
    if (file.data !== undefined && !(await content.has(file.digest))) {
      await content.put(file.data);
      onBlob(file.digest);
      blobs.push(file.digest);
    }
    return file.digest;
  };
  const readJson = (file: ArchiveFile): unknown => {
    if (file.data === undefined)
      throw new ImageError('invalid-parameter', 'invalid archive: metadata too large');
    return JSON.parse(file.data.toString('utf8'));
  };
  const layerDescriptor = async (file: ArchiveFile, mediaType?: string): Promise<Descriptor> => {
    const digest = await storeFile(file);
    const kind = detectCompression(file.head);
    return {
      mediaType:
        mediaType ??
        (kind === 'gzip'
          ? MediaType.DockerLayerGzip
          : kind === 'zstd'
            ? MediaType.OciLayerZstd
            : MediaType.DockerLayer),
      digest,
      size: file.size,
    };
  };

  const images: ArchiveEntryImage[] = [];
  if (files.has('manifest.json')) {
    const manifest = readJson(files.get('manifest.json')!);
    if (!Array.isArray(manifest))
      throw new ImageError('invalid-parameter', 'invalid archive: bad manifest.json');
    for (const item of manifest as Array<{
      Config?: string;
      RepoTags?: string[] | null;
      Layers?: string[];
    }>) {
      if (typeof item.Config !== 'string' || !Array.isArray(item.Layers))
        throw new ImageError('invalid-parameter', 'invalid archive: bad manifest.json entry');
      const configFile = lookup(item.Config);
      if (configFile.data === undefined)
        throw new ImageError('invalid-parameter', 'invalid archive: config too large');
      const layers: Descriptor[] = [];
      for (const l of item.Layers) layers.push(await layerDescriptor(lookup(l)));
      images.push({
        configDigest: configFile.digest,
        config: configFile.data,
        layers,
        references: item.RepoTags ?? [],
      });
    }
  } else if (files.has('index.json')) {
    const index = IndexSchema.parse(readJson(files.get('index.json')!));
    for (const descriptor of index.manifests) {
      const manifest = resolveManifest(descriptor, (d) => readJson(lookup(blobPathOf(d))));
      if (!manifest) continue;
      const configFile = lookup(blobPathOf(manifest.config.digest));
      if (configFile.data === undefined)
        throw new ImageError('invalid-parameter', 'invalid archive: config too large');
      const layers: Descriptor[] = [];
      for (const l of manifest.layers)
        layers.push(await layerDescriptor(lookup(blobPathOf(l.digest)), l.mediaType));
      const annotations = descriptor.annotations ?? {};
      const refName = annotations['org.opencontainers.image.ref.name'];
      // A bare tag ("latest") as ref.name names nothing on its own: Docker leaves such images untagged.
      const name =
        annotations['io.containerd.image.name'] ??
        (refName !== undefined && /[/:]/.test(refName) ? refName : undefined);
      const references = name !== undefined ? [name] : [];
      images.push({ configDigest: configFile.digest, config: configFile.data, layers, references });
    }
  } else {
    throw new ImageError(
      'invalid-parameter',
      'invalid archive: does not contain a manifest.json or an index.json',
    );
  }
  const scans = new Map<Digest, ScanOutcome>();
  for (const file of files.values()) if (file.data === undefined) scans.set(file.digest, file.scan);
  return { images, blobs, scans };
}

function blobPathOf(digest: string): string {
  if (!isDigest(digest))
    throw new ImageError('invalid-parameter', `invalid archive: unsupported digest ${digest}`);
  return `blobs/sha256/${digestHex(digest)}`;
}

/** Follows an index down to the manifest for this host's platform. */
function resolveManifest(
  descriptor: Descriptor,
  read: (digest: string) => unknown,
  depth = 0,
): Manifest | undefined {
  if (depth > 4) throw new ImageError('invalid-parameter', 'invalid archive: indexes nested too deeply');
  const doc = read(descriptor.digest) as { manifests?: unknown; mediaType?: string };
  if (Array.isArray(doc.manifests)) {
    const index = IndexSchema.parse(doc);
    const host = hostPlatform();
    const match =
      index.manifests.find(
        (m) => m.platform?.os === host.os && m.platform.architecture === host.architecture,
      ) ?? index.manifests.find((m) => m.platform === undefined);
    return match ? resolveManifest(match, read, depth + 1) : undefined;
  }
  return ManifestSchema.parse(doc);
}

function cleanName(name: string): string {
  return posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
}
