import type { Logger, PortProtocol } from '@ts-container/common';
import type { FirewallBackend } from './firewall.js';

// The public shapes of the NetworkManager's options and answers (Docker's API names where they are Docker's).

export interface DefaultBridgeConfig {
  /** Linux bridge device of Docker's `bridge` network (docker0 in Docker). At most 15 characters. */
  name: string;
  /** Default: the first free /16 of 172.17–31.0.0, then 192.168.x.0/20, avoiding host routes. */
  subnet?: string;
  /** Default: the first address of the subnet. */
  gateway?: string;
}

export interface NetworkManagerOptions {
  /** Directory for networks.json (networks, endpoints/leases, published ports). */
  stateDir: string;
  defaultBridge: DefaultBridgeConfig;
  /** Name of our nft table (or prefix of our iptables chains). */
  firewallTable: string;
  /** Serve published ports on loopback through the in-process proxy (Docker's default). Default true. */
  userlandProxy?: boolean;
  /** Default "auto": nft when installed, else iptables. */
  firewallBackend?: FirewallBackend | 'auto';
  /** Port of the embedded DNS servers on each user network's gateway. Default 53. */
  dnsPort?: number;
  /** Where the embedded DNS finds upstream resolvers. Default /etc/resolv.conf. */
  resolvConfPath?: string;
  logger?: Logger;
}

export interface InitOptions {
  /**
   * Whether the container owning an endpoint still runs; endpoints of dead containers (and their
   * veths, leases and published ports) are removed. Default: alive while its netns file exists.
   */
  isEndpointAlive?: ((containerId: string) => boolean | Promise<boolean>) | undefined;
}

export interface CreateNetworkOptions {
  name: string;
  driver?: string | undefined;
  subnet?: string | undefined;
  gateway?: string | undefined;
  ipRange?: string | undefined;
  internal?: boolean | undefined;
  labels?: Record<string, string> | undefined;
  /** Driver options; `com.docker.network.bridge.name` picks the bridge device name. */
  options?: Record<string, string> | undefined;
  /** IPAM.Config[].AuxiliaryAddresses of the IPv4 pool (reserved: never handed out). */
  auxAddresses?: Record<string, string> | undefined;
  /** IPAM.Options, shown back by inspect. */
  ipamOptions?: Record<string, string> | undefined;
  /** EnableIPv6: the network needs an IPv6 pool (subnet6; there are no default IPv6 pools). */
  enableIPv6?: boolean | undefined;
  subnet6?: string | undefined;
  gateway6?: string | undefined;
  ipRange6?: string | undefined;
  auxAddresses6?: Record<string, string> | undefined;
  /** Containers may be connected to it by hand (Docker's Attachable; required for overlay). */
  attachable?: boolean | undefined;
  /** The swarm's routing-mesh network (overlay only; at most one). */
  ingress?: boolean | undefined;
}

export interface ConnectOptions {
  containerId: string;
  containerName: string;
  /** The container's network namespace file (see createNetns). */
  netnsPath: string;
  /**
   * The namespace holds nothing but `lo` (just made by createNetns): its interface is eth0 and
   * it has no default route yet, so nothing inside it needs looking at first.
   */
  onlyLoopback?: boolean | undefined;
  /** Network name, id or unique id prefix. */
  network: string;
  /** --ip; only on networks with a user-chosen subnet, as in Docker. */
  ipv4Address?: string | undefined;
  /** --ip6; only on IPv6 networks. */
  ipv6Address?: string | undefined;
  /** --link-local-ip: extra addresses on the container's interface, as libnetwork adds them. */
  linkLocalIps?: string[] | undefined;
  /** Links on a user-defined network, `name[:alias]`: the alias resolves, for this container only. */
  links?: string[] | undefined;
  /** --network-alias: extra DNS names on user-defined networks. */
  aliases?: string[] | undefined;
  /** --mac-address; default derived from the IP (02:42:…). */
  macAddress?: string | undefined;
  /** Upstream resolvers the embedded DNS uses for this container (--dns on a user network). */
  dnsServers?: string[] | undefined;
}

export interface EndpointInfo {
  networkId: string;
  networkName: string;
  endpointId: string;
  /** Interface name inside the container (eth0, eth1...). */
  interfaceName: string;
  ipAddress: string;
  prefixLen: number;
  /** Empty on internal networks (no default route). */
  gateway: string;
  /** On IPv6 networks; empty otherwise. */
  ipv6Address: string;
  prefixLen6: number;
  gateway6: string;
  macAddress: string;
  aliases: string[];
  /** The embedded DNS server for this network (write `nameserver <dnsServer>`), on user-defined networks. */
  dnsServer?: string;
}

/** One port binding to publish; a missing hostPort (or 0) means a free port from the ephemeral range. */
export interface PortBindingRequest {
  hostIp?: string | undefined;
  hostPort?: number | undefined;
  /** With hostPort: pick any free port in hostPort..hostPortEnd. */
  hostPortEnd?: number | undefined;
  containerPort: number;
  protocol?: PortProtocol | undefined;
}

export interface ResolvedPortBinding {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

/** `docker network inspect` shape. */
export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local' | 'swarm';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: {
    Driver: 'default';
    Options: Record<string, string> | null;
    Config: {
      Subnet: string;
      Gateway?: string;
      IPRange?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }[];
  };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  >;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** `NetworkSettings.Networks[name]` of `docker inspect <container>`. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address: string } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DriverOpts: null;
  DNSNames: string[] | null;
}

export type ResolvedNetworkMode =
  | { kind: 'bridge'; networkId: string; networkName: 'bridge' }
  | { kind: 'host' }
  | { kind: 'none' }
  | { kind: 'container'; container: string }
  | { kind: 'network'; networkId: string; networkName: string };
