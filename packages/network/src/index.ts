export { NetworkError, type NetworkErrorKind } from './errors.js';
export type { Logger } from '@ts-container/common';
export { createNetns, removeNetns, netnsExists, execInNetns } from './netns.js';
export {
  NetworkManager,
  type NetworkManagerOptions,
  type DefaultBridgeConfig,
  type InitOptions,
  type CreateNetworkOptions,
  type ConnectOptions,
  type EndpointInfo,
  type PortBindingRequest,
  type ResolvedPortBinding,
  type NetworkInspect,
  type EndpointSettings,
  type ResolvedNetworkMode,
} from './manager.js';
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
