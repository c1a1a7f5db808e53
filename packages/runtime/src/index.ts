export { attachStdin, reopenLog, resizeTerminal } from './attach.js';
export {
  type ContainerRuntimeOptions,
  ContainerRuntime,
  type CreateOptions,
  type ExecCommand,
  type ExecProcessOptions,
  type UnusableRuntime,
} from './container-runtime.js';
export { type ExitStatus, MONITOR_DIED_EXIT_CODE } from './exit-watch.js';
export {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
} from './defaults.js';
export { hostDevice } from './devices.js';
export {
  type CommandFailure,
  commandFailureFrom,
  ContainerStartError,
  type ExecLog,
  isCommandFailure,
  readExecLog,
  RuntimeError,
  type RuntimeErrorKind,
} from './errors.js';
export { formatJsonLogLine, type LogRecord, parseLogLine, readLogRecords } from './log-file.js';
export {
  launchMonitor,
  type MonitorLaunchOptions,
  type MonitorPaths,
  monitorPaths,
  readExitCode,
  startErrorFrom,
  wasOomKilled,
} from './monitor.js';
export {
  findExecutable,
  findOciRuntimes,
  type OciContainerState,
  OciRuntime,
  type OciRuntimeInfo,
  type OciRuntimeName,
  probeOciRuntime,
  resolveOciRuntime,
} from './oci-runtime.js';
export {
  effectiveCapabilities,
  generateSpec,
  linuxResources,
  normaliseCapability,
  type OciSpec,
} from './spec.js';
export {
  type ContainerSpecInput,
  ContainerSpecInputSchema,
  type ContainerSpecOptions,
  type DeviceSpec,
  type Resources,
} from './spec-input.js';
export {
  defaultSeccompProfile,
  SECCOMP_ALLOWED,
  SECCOMP_BY_CAPABILITY,
  type SeccompProfile,
} from './seccomp.js';
export { type ToolVersion, toolVersion } from './versions.js';
