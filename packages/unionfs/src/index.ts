export {
  CopyDriver,
  type DriverName,
  OverlayDriver,
  overlaySupported,
  type StorageDriver,
} from './drivers.js';
export { SnapshotError, type SnapshotErrorKind } from './errors.js';
export { type Mount, mountAll, mountsUnder, unmount } from './mount.js';
export {
  type SnapshotInfo,
  SnapshotInfoSchema,
  type SnapshotKind,
  Snapshotter,
  type SnapshotterOptions,
} from './snapshotter.js';
export {
  type Change,
  opaqueDirectories,
  overlayChanges,
  overlayLayerTar,
  treeChanges,
  treeLayerTar,
} from './changes.js';
