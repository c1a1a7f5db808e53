export {
  type ContainerRecord,
  ContainerRecordSchema,
  type ContainerState,
  type ContainerStatus,
  ContainerStore,
} from './container-store.js';
export {
  type AttachOptions,
  ContainerService,
  type LogsOptions,
  mergeConfig,
  dockerCommandLine,
  mountsView,
  normaliseSignal,
  statusText,
} from './containers.js';
export {
  createEngine,
  type CreateEngineOptions,
  Engine,
  type EngineComponents,
  type EngineOptions,
  type EngineParts,
} from './engine.js';
export { ENGINE_VERSION } from './version.js';
export {
  ALLOWED_FROM,
  ContainerLifecycle,
  type EventSink,
  type LifecycleEvent,
  type LifecycleEventType,
} from './lifecycle.js';
export {
  nextRestartDelay,
  RestartManager,
  type RestartManagerDeps,
  shouldRestart,
} from './restart-manager.js';
export { ContainerSpecBuilder, type ContainerSpecDeps } from './container-spec.js';
export { containerSummary } from './container-views.js';
export {
  type ContainerRecoveryDeps,
  recoverContainers,
  repairAtStart,
  type StartupRepairDeps,
} from './recovery.js';
export type { BuildDeps } from './build-deps.js';
export type { ExecServiceDeps } from './exec.js';
export type { StdinAttachment, StdinBrokerDeps } from './stdin-broker.js';
export type { HealthMonitorDeps } from './health.js';
export type { ChangesDeps } from './changes.js';
export type { SwarmDeps } from './swarm.js';
export { NO_MANAGER, NO_SWARM, SwarmInitSchema, type SwarmInitRequest, SwarmService } from './swarm.js';
export {
  conflict,
  EngineError,
  type EngineErrorKind,
  errorKind,
  invalidParameter,
  notFound,
} from './errors.js';
export {
  type ImageDeleteEntry,
  type ImageRemoval,
  ImageService,
  type ImportOptions,
  type RemoveImageOptions,
} from './images.js';
export { type LoadMessage, layerSourceFor, loadImages, resolveSaveSet, saveImages } from './image-archive.js';
export {
  collectGarbage,
  type GarbageCollectorDeps,
  type GarbageCollectionResult,
  type Lease,
  LeaseManager,
} from './gc.js';
export { applyConfigChanges } from './import-changes.js';
export { followLog } from './logs.js';
export { randomContainerName } from './names.js';
export { resolveUser } from './user.js';
export { DEFAULT_REMAP_USER, resolveUsernsRemap } from './userns-remap.js';
export {
  type ContainerNetworking,
  type ContainerNetworkSetup,
  isolatedNetworking,
  type NetworkNamespace,
} from './networking.js';
export {
  BridgeNetworking,
  type BridgeNetworkingOptions,
  type ContainerLookup,
  type EndpointConfig,
  blankNetworkSettings,
  endpointConfig,
} from './bridge-networking.js';
export {
  DEFAULT_CERTS_DIRS,
  type ProgressSink,
  RegistryService,
  type RegistrySettings,
  registryTls,
  type RegistryTlsFiles,
} from './registry.js';
export { type CommitDeps, type CommitOptions, commitContainer } from './commit.js';
export {
  containerChanges,
  type ContainerSize,
  containerSize,
  exportContainer,
  getContainerArchive,
  putContainerArchive,
  repairTemporaryMounts,
  statContainerPath,
} from './changes.js';
export {
  DEFAULT_DETACH_KEYS,
  DetachKeyScanner,
  type ExecConfig,
  ExecService,
  type ExecSession,
  parseDetachKeys,
  pauseContainer,
  StdinBroker,
  topContainer,
  unpauseContainer,
} from './interactive.js';
export {
  BuildCache,
  type BuildFromContextOptions,
  buildCacheOf,
  buildFromRemote,
  buildFromTar,
  EngineBuildBackend,
  type EngineBuildOptions,
  pruneBuildCache,
} from './build.js';
export {
  fetchRemoteContext,
  isGitUrl,
  isRemoteUrl,
  parseGitRemote,
  type RemoteContext,
} from './build-remote.js';
export {
  type BlkioEntry,
  cgroupVersion,
  type ContainerStats,
  type CpuStats,
  emptyStats,
  type NetworkStats,
  parseNetDev,
  sampleStats,
  StatsService,
} from './stats.js';
export { HEALTH_ON_FAILURE_LABEL, HealthMonitor, healthCommand } from './health.js';
export {
  DEFAULT_LOG_MAX_FILE,
  DEFAULT_LOG_MAX_SIZE,
  type LogLimits,
  logLimits,
  parseLogSize,
  rotatedLogPaths,
} from './log-rotation.js';
export { LogShipper, monitorLogPath } from './log-shipper.js';
export { type CreateVolumeOptions, type Volume, type VolumeRecord, VolumeService } from './volumes.js';
export { type EngineServices, createEngineServices, type EngineServicesDeps } from './engine-services.js';
export {
  type ContainerCatalog,
  ContainerQueries,
  type ListContainersOptions,
  matchesContainerFilters,
  parseTimestamp,
} from './container-queries.js';
export { NetworkService } from './network-service.js';
export { ImageBudget, type ImageHistoryRow, ImageQueries } from './image-queries.js';
export { VolumeQueries } from './volume-queries.js';
export {
  type ContainerEvent,
  EventJournal,
  type EventMessage,
  type EventWatch,
  eventTimestamp,
} from './event-journal.js';
export { goArch, SystemService } from './system-service.js';
