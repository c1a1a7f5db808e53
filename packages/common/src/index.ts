export { type ErrorKind, TypedError, invalidParameter } from './errors.js';
export { type Logger, silentLogger } from './logger.js';
export { ramInBytes, fromHumanSize, humanSize, bytesSize } from './sizes.js';
export { parseGoDuration, humanDuration } from './durations.js';
export {
  type PortProtocol,
  type PortMapping,
  splitProtoPort,
  parsePortRange,
  parsePortSpec,
  parsePortSpecs,
  publishAllMappings,
  formatPortBinding,
} from './port-spec.js';
export {
  type Platform,
  normalizeArchitecture,
  hostPlatform,
  formatPlatform,
  hostPlatformString,
  parsePlatform,
} from './platform.js';
