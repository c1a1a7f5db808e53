export {
  CopyDriver,
  type DriverName,
  OverlayDriver,
  overlaySupported,
  type StorageDriver,
} from './drivers.js';
export { SnapshotError, type SnapshotErrorKind } from './errors.js';
export { type Mount, type MountOptions, mountAll, mountsUnder, unmount } from './mount.js';
export { idmappedMountsUnavailable, mountSyscallsUnavailable } from './syscalls.js';
export {
  containerIdOf,
  hostIdOf,
  type IdMap,
  IdMapSchema,
  type IdMappings,
  IdMappingsSchema,
  OVERFLOW_ID,
  UserNamespaceHandle,
} from './idmap.js';
export {
  type SnapshotInfo,
  SnapshotInfoSchema,
  type SnapshotKind,
  Snapshotter,
  type SnapshotterOptions,
} from './snapshotter.js';
export {
  type Change,
  compareWalkOrder,
  opaqueDirectories,
  overlayChanges,
  readXattrs,
  treeChanges,
} from './changes.js';
export { type LayerSummary, overlayLayerTar, treeLayerTar } from './layer-writer.js';
export {
  archiveFromRoot,
  cleanContainerPath,
  type ExtractOptions,
  extractToRoot,
  isDirMode,
  type PathStat,
  resolveInRoot,
  statInRoot,
} from './archive.js';
