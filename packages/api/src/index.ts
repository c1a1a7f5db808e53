export {
  connectEndpoint,
  connectError,
  DEFAULT_SOCKET,
  type Endpoint,
  EngineClient,
  hostUrl,
  parseHost,
  readAll,
  type RequestOptions,
  socketPathFromHost,
  sshCommand,
  type TlsMaterial,
} from './client.js';
export { ApiError, DaemonUnreachableError } from './errors.js';
export { encodeFrame, FrameDecoder, type StreamName, StreamType } from './stream.js';
export {
  type ContainerConfig,
  ContainerConfigSchema,
  type ContainerCreateRequest,
  ContainerCreateRequestSchema,
  type ContainerSummary,
  EndpointSettingsSchema,
  type EndpointSettingsRequest,
  HealthConfigSchema,
  type HostConfig,
  HostConfigSchema,
  type ImageSummary,
  MountPointSchema,
  PortBindingSchema,
  RestartPolicySchema,
  type WaitCondition,
  WaitConditionSchema,
} from './types.js';
export { API_VERSION, compareApiVersions, MIN_API_VERSION, splitVersionedPath } from './versions.js';
export { labelFilterMatches } from './filters.js';
