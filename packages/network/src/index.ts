export { NetworkError, type NetworkErrorKind } from './errors.js';
export type { Logger } from '@ts-container/common';
export { createNetns, removeNetns, netnsExists, execInNetns } from './netns.js';
export { NetworkManager } from './manager.js';
export type {
  NetworkManagerOptions,
  DefaultBridgeConfig,
  InitOptions,
  CreateNetworkOptions,
  ConnectOptions,
  EndpointInfo,
  PortBindingRequest,
  ResolvedPortBinding,
  NetworkInspect,
  EndpointSettings,
  ResolvedNetworkMode,
} from './types.js';
export {
  parsePortSpec,
  parsePortSpecs,
  parsePortRange,
  publishAllMappings,
  formatPortBinding,
  type PortMapping,
  type PortProtocol,
} from '@ts-container/common';
export { parseNetworkMode, formatNetworkMode, type NetworkMode } from './network-mode.js';
export {
  buildResolvConf,
  buildHostsFile,
  parseExtraHost,
  DEFAULT_NAMESERVERS,
  type DnsMode,
  type ResolvConfOptions,
  type ResolvConf,
  type HostsFileOptions,
} from './dns-config.js';
export { EmbeddedDnsServer, type DnsServerOptions } from './dns-server.js';
export { macFromIpv4 } from './ipv4.js';
export type { FirewallBackend } from './firewall.js';
