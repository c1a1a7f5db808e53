export {
  type ArchiveEntryImage,
  type ArchiveFileEvent,
  type ArchiveImage,
  type LayerSource,
  type ReadArchiveResult,
  readImageArchive,
  writeImageArchive,
} from './archive.js';
export { writeFileAtomic } from './atomic.js';
export { type Compression, decompressStream, detectCompression, gzipFileParallel } from './compression.js';
export { type BlobInfo, ContentStore, hashFile, type IngestWriter } from './content-store.js';
export { chainIds, type Digest, DigestSchema, digestHex, isDigest, sha256Digest, shortId } from './digest.js';
export {
  ArchiveError,
  archiveFailure,
  DigestMismatchError,
  type ErrorKind,
  ImageError,
  InvalidReferenceError,
  NoSuchImageError,
  noSpaceError,
  UnsafeTarEntryError,
} from './errors.js';
export { type ImageRecord, ImageRecordSchema, ImageStore, type StoredImage } from './image-store.js';
export { type LayerScan, openScannedLayer, type ScanOutcome } from './fast-extract.js';
export { type ApplyLayerOptions, type ApplyLayerResult, applyLayer } from './layer-tar.js';
export {
  type ExtractArchiveOptions,
  type ExtractArchiveResult,
  extractArchive,
  normaliseEntryName,
  OPAQUE_WHITEOUT,
  OVERLAY_OPAQUE_XATTR,
  RootResolver,
  resolveInRoot,
  WHITEOUT_PREFIX,
} from './safe-archive.js';
export {
  type Descriptor,
  DescriptorSchema,
  type HistoryEntry,
  type ImageConfig,
  ImageConfigSchema,
  type ImageIndex,
  type ImageRunConfig,
  IndexSchema,
  type Manifest,
  ManifestSchema,
  MediaType,
} from './oci.js';
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarName,
  familiarRepository,
  formatReference,
  type ImageReference,
  looksLikeImageId,
  parseReference,
  repositoryName,
} from './reference.js';
export { type ScannedHeader, TarHeaderWalker } from './tar-headers.js';
