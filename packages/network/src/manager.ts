import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { PortProtocol } from '@ts-container/common';
import { type Logger, silentLogger } from '@ts-container/common';
import { EmbeddedDnsServer } from './dns-server.js';
import { NetworkError, conflict, forbidden, invalidParameter, notFound, systemError } from './errors.js';
import { run } from './exec.js';
import { type Firewall, type FirewallBackend, type FirewallRules, createFirewall } from './firewall.js';
import {
  type Ipv4Subnet,
  containsAddress,
  formatCidr,
  formatIpv4,
  isMacAddress,
  lastAddress,
  macFromIpv4,
  mustParseCidr,
  parseCidr,
  parseIpv4,
  subnetsOverlap,
} from './ipv4.js';
import {
  type Ipv6Subnet,
  contains6,
  formatCidr6,
  formatIpv6,
  lastAddress6,
  parseCidr6,
  parseIpv6,
  subnetsOverlap6,
} from './ipv6.js';
import {
  bridgePorts,
  createVeth,
  deleteLink,
  ensureBridge,
  hostIpv4Subnets,
  linkExists,
  nextInterfaceName,
  writeSysctl,
} from './link.js';
import { netnsExists } from './netns.js';
import { type NetworkMode, parseNetworkMode } from './network-mode.js';
import {
  type EndpointRecord,
  type NetworkRecord,
  type NetworkState,
  type PublishedPort,
  StateStore,
  emptyState,
} from './state.js';
import { UserlandProxy } from './userland-proxy.js';

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

const PREDEFINED = ['bridge', 'host', 'none'] as const;
const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
const MAX_IFNAME = 15;

const newId = () => randomBytes(32).toString('hex');
const portKey = (p: { protocol: string; hostIp: string; hostPort: number }) =>
  `${p.protocol}/${p.hostIp}/${p.hostPort}`;

/**
 * Bridge networking for containers: networks (Docker's bridge/host/none and user-defined bridges),
 * IPAM leases, veth endpoints in container namespaces, isolation and NAT rules, published ports
 * (kernel DNAT plus an in-process userland proxy) and an embedded DNS server per user network.
 *
 * All state lives in `stateDir`; the kernel objects (bridges, veths, the firewall table) are derived
 * from it, so `init()` after a crash brings the kernel back in line with the state.
 */
export class NetworkManager {
  private readonly store: StateStore;
  private readonly logger: Logger;
  private readonly userlandProxy: boolean;
  private readonly proxy: UserlandProxy;
  private readonly dnsServers = new Map<string, EmbeddedDnsServer>();
  private state: NetworkState = emptyState();
  private firewall: Firewall | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private initialized = false;

  constructor(private readonly options: NetworkManagerOptions) {
    if (options.defaultBridge.name.length > MAX_IFNAME) {
      throw invalidParameter(
        `bridge name ${options.defaultBridge.name} is longer than ${MAX_IFNAME} characters`,
      );
    }
    this.store = new StateStore(options.stateDir);
    this.logger = options.logger ?? silentLogger;
    this.userlandProxy = options.userlandProxy ?? true;
    this.proxy = new UserlandProxy(this.logger);
  }

  /** Path of the state file (networks, endpoints with their leases, published ports). */
  get stateFile(): string {
    return this.store.path;
  }

  get firewallBackend(): FirewallBackend | undefined {
    return this.firewall?.backend;
  }

  /**
   * Loads state, creates the predefined networks, enables forwarding, installs the firewall and
   * repairs what a crash left behind (endpoints of dead containers, stray veths, stale rules).
   */
  init(options: InitOptions = {}): Promise<void> {
    return this.locked(async () => {
      await this.store.removeTempFiles();
      this.state = await this.store.load();
      this.firewall = await createFirewall(
        this.options.firewallTable,
        this.options.firewallBackend ?? 'auto',
        this.logger,
      );
      await this.ensurePredefinedNetworks();
      await writeSysctl('net.ipv4.ip_forward', '1', this.log());
      for (const network of this.bridgeNetworks()) await this.setUpBridge(network);
      await this.repairEndpoints(options.isEndpointAlive);
      await this.repairPorts();
      await this.save();
      await this.applyFirewall();
      for (const network of this.bridgeNetworks()) await this.startDns(network);
      this.initialized = true;
    });
  }

  /**
   * Stops the in-process parts (DNS servers, userland proxy) and leaves the kernel state for a
   * later init() (a daemon restart with live containers).
   */
  close(): Promise<void> {
    return this.locked(async () => {
      this.initialized = false;
      await this.proxy.closeAll();
      for (const server of this.dnsServers.values()) await server.stop();
      this.dnsServers.clear();
    });
  }

  /** Removes everything this manager created: veths, bridges, firewall rules and the state file. */
  teardown(): Promise<void> {
    return this.locked(async () => {
      // Also usable on a fresh manager to clean up after an earlier process.
      if (!this.initialized) this.state = await this.store.load().catch(() => this.state);
      this.initialized = false;
      await this.proxy.closeAll();
      for (const server of this.dnsServers.values()) await server.stop();
      this.dnsServers.clear();
      for (const endpoint of this.state.endpoints) await deleteLink(endpoint.hostVeth, this.log());
      for (const network of this.bridgeNetworks())
        if (network.bridge) await deleteLink(network.bridge, this.log());
      const firewall =
        this.firewall ??
        (await createFirewall(
          this.options.firewallTable,
          this.options.firewallBackend ?? 'auto',
          this.logger,
        ));
      await firewall.remove();
      this.state = emptyState();
      await rm(this.store.path, { force: true });
    });
  }

  // ---- networks ----

  /**
   * A user-defined network. Driver "overlay" makes a swarm-scoped network whose data plane is a
   * local bridge (a single-node swarm has no other host to tunnel to); the caller checks that the
   * node is a swarm manager.
   */
  createNetwork(options: CreateNetworkOptions): Promise<NetworkInspect> {
    return this.locked(async () => {
      this.assertInitialized();
      const driver = options.driver ?? 'bridge';
      if (driver === 'host' || driver === 'null') {
        throw forbidden(`only one instance of "${driver}" network is allowed`);
      }
      if (driver !== 'bridge' && driver !== 'overlay') throw notFound(`plugin "${driver}" not found`);
      const overlay = driver === 'overlay';
      if (options.ingress && !overlay)
        throw invalidParameter('only an overlay network can be the ingress network');
      // swarmkit's text (AlreadyExists).
      if (options.ingress && this.state.networks.some((n) => n.ingress))
        throw conflict('ingress network already present');
      // moby puts no pattern on network names ("test 01" is fine); only an empty one is refused.
      if (options.name === '') throw invalidParameter('network name is required');
      if (this.state.networks.some((n) => n.name === options.name)) {
        throw conflict(`network with name ${options.name} already exists`);
      }
      const id = newId();
      const bridge = options.options?.[BRIDGE_NAME_OPTION] ?? `br-${id.slice(0, 12)}`;
      if (bridge.length > MAX_IFNAME || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) {
        throw invalidParameter(`invalid bridge name ${bridge}`);
      }
      if (this.state.networks.some((n) => n.bridge === bridge)) {
        throw conflict(`bridge name ${bridge} is already used by another network`);
      }
      const { subnet, gateway, ipRange } = await this.planAddresses(
        options,
        [],
        overlay ? overlaySubnetPools() : defaultSubnetPools(),
      );
      const v6 = options.enableIPv6 ? this.planAddresses6(options) : undefined;
      const network: NetworkRecord = {
        id,
        name: options.name,
        driver,
        ...(overlay ? { scope: 'swarm' as const } : {}),
        ...(options.attachable ? { attachable: true } : {}),
        ...(options.ingress ? { ingress: true } : {}),
        created: new Date().toISOString(),
        bridge,
        subnet: formatCidr(subnet),
        gateway,
        ...(ipRange ? { ipRange: formatCidr(ipRange) } : {}),
        internal: options.internal ?? false,
        userSubnet: options.subnet !== undefined,
        labels: { ...options.labels },
        options: { ...options.options },
        ...(options.auxAddresses ? { auxAddresses: { ...options.auxAddresses } } : {}),
        ...(options.ipamOptions ? { ipamOptions: { ...options.ipamOptions } } : {}),
        ...(v6
          ? {
              enableIPv6: true,
              subnet6: formatCidr6(v6.subnet),
              gateway6: v6.gateway,
              ...(v6.ipRange ? { ipRange6: formatCidr6(v6.ipRange) } : {}),
              ...(options.auxAddresses6 ? { auxAddresses6: { ...options.auxAddresses6 } } : {}),
            }
          : {}),
      };
      // State first: a crash before the bridge exists is repaired by init(), which creates it.
      this.state.networks.push(network);
      await this.save();
      await this.setUpBridge(network);
      await this.applyFirewall();
      await this.startDns(network);
      this.logger.info('network created', { name: network.name, subnet: network.subnet, bridge });
      return this.inspectRecord(network);
    });
  }

  listNetworks(): Promise<NetworkInspect[]> {
    return this.reading(() => this.state.networks.map((n) => this.inspectRecord(n)));
  }

  /** By full name, full id or unique id prefix; throws `network X not found` like Docker. */
  inspectNetwork(idOrName: string): Promise<NetworkInspect> {
    return this.reading(() => this.inspectRecord(this.lookup(idOrName)));
  }

  removeNetwork(idOrName: string): Promise<void> {
    return this.locked(async () => {
      this.assertInitialized();
      const network = this.lookup(idOrName);
      await this.removeNetworkRecord(network);
    });
  }

  /** Removes user-defined networks without endpoints; returns their names (Docker's NetworksDeleted). */
  pruneNetworks(filter: { labels?: Record<string, string> } = {}): Promise<string[]> {
    return this.locked(async () => {
      this.assertInitialized();
      const removed: string[] = [];
      for (const network of [...this.state.networks]) {
        if ((PREDEFINED as readonly string[]).includes(network.name)) continue;
        if (this.state.endpoints.some((e) => e.networkId === network.id)) continue;
        const labels = filter.labels ?? {};
        if (Object.entries(labels).some(([k, v]) => network.labels[k] !== v)) continue;
        await this.removeNetworkRecord(network);
        removed.push(network.name);
      }
      return removed;
    });
  }

  /** Resolves a `--network` value; a name that is no network gives Docker's `network X not found`. */
  resolveNetworkMode(value: string): Promise<ResolvedNetworkMode> {
    return this.locked(async () => {
      this.assertInitialized();
      const mode: NetworkMode = parseNetworkMode(value);
      switch (mode.kind) {
        case 'bridge': {
          const network = this.lookup('bridge');
          return { kind: 'bridge', networkId: network.id, networkName: 'bridge' };
        }
        case 'network': {
          const network = this.lookup(mode.network);
          if (network.name === 'host') return { kind: 'host' };
          if (network.name === 'none') return { kind: 'none' };
          if (network.name === 'bridge')
            return { kind: 'bridge', networkId: network.id, networkName: 'bridge' };
          return { kind: 'network', networkId: network.id, networkName: network.name };
        }
        default:
          return mode;
      }
    });
  }

  /** Address `--add-host name:host-gateway` stands for: the default bridge's gateway. */
  hostGatewayIp(): string | undefined {
    return this.state.networks.find((n) => n.name === 'bridge')?.gateway;
  }

  // ---- endpoints ----

  connect(options: ConnectOptions): Promise<EndpointInfo> {
    return this.locked(async () => {
      this.assertInitialized();
      const network = this.lookup(options.network);
      if (
        (network.driver !== 'bridge' && network.driver !== 'overlay') ||
        !network.bridge ||
        !network.subnet ||
        !network.gateway
      ) {
        throw forbidden(
          `container cannot be disconnected from ${network.name} network or connected to ${network.name} network`,
        );
      }
      // Docker: only services use a swarm network unless it was created --attachable.
      if (network.scope === 'swarm' && !network.attachable) {
        throw forbidden(
          `Could not attach to network ${network.name}: network ${network.name} not manually attachable`,
        );
      }
      if (
        this.state.endpoints.some((e) => e.networkId === network.id && e.containerId === options.containerId)
      ) {
        throw conflict(
          `endpoint with name ${trimName(options.containerName)} already exists in network ${network.name}`,
        );
      }
      if (network.name === 'bridge' && options.aliases?.length) {
        throw invalidParameter(
          'network-scoped alias is supported only for containers in user defined networks',
        );
      }
      if (!(await netnsExists(options.netnsPath))) {
        throw invalidParameter(`network namespace ${options.netnsPath} does not exist`);
      }
      const subnet = mustParseCidr(network.subnet);
      const ipAddress = this.allocateAddress(network, subnet, options.ipv4Address);
      const ipv6Address = this.allocateAddress6(network, options.ipv6Address);
      const subnet6 = network.subnet6 ? parseCidr6(network.subnet6) : undefined;
      for (const ip of options.linkLocalIps ?? [])
        if (isIP(ip) === 0) throw invalidParameter(`invalid link-local IP address: ${ip}`);
      if (options.macAddress !== undefined && !isMacAddress(options.macAddress)) {
        throw invalidParameter(`invalid MAC address: ${options.macAddress}`);
      }
      const endpointId = newId();
      const endpoint: EndpointRecord = {
        id: endpointId,
        networkId: network.id,
        containerId: options.containerId,
        containerName: trimName(options.containerName),
        netnsPath: options.netnsPath,
        hostVeth: `veth${createHash('sha256').update(endpointId).digest('hex').slice(0, 7)}`,
        interfaceName: options.onlyLoopback ? 'eth0' : await nextInterfaceName(options.netnsPath),
        ipAddress,
        prefixLen: subnet.prefixLen,
        macAddress: (options.macAddress ?? macFromIpv4(ipAddress)).toLowerCase(),
        aliases: [...(options.aliases ?? [])],
        dnsServers: [...(options.dnsServers ?? [])],
        ...(ipv6Address && subnet6 ? { ipv6Address, prefixLen6: subnet6.prefixLen } : {}),
        ...(options.links?.length ? { links: [...options.links] } : {}),
      };
      // The lease is persisted before the veth exists: a crash in between leaves an endpoint
      // without veth, which init() removes.
      this.state.endpoints.push(endpoint);
      await this.save();
      try {
        await createVeth(
          {
            hostName: endpoint.hostVeth,
            bridge: network.bridge,
            netnsPath: endpoint.netnsPath,
            interfaceName: endpoint.interfaceName,
            macAddress: endpoint.macAddress,
            ipCidr: `${ipAddress}/${subnet.prefixLen}`,
            ...(network.internal ? {} : { gateway: network.gateway }),
            ...(ipv6Address && subnet6 ? { ipv6Cidr: `${ipv6Address}/${subnet6.prefixLen}` } : {}),
            ...(ipv6Address && network.gateway6 && !network.internal ? { gateway6: network.gateway6 } : {}),
            onlyLoopback: options.onlyLoopback ?? false,
            ...(options.linkLocalIps?.length ? { linkLocalIps: options.linkLocalIps } : {}),
          },
          this.log(),
        );
      } catch (err) {
        this.state.endpoints = this.state.endpoints.filter((e) => e.id !== endpoint.id);
        await this.save();
        throw err;
      }
      const dns = this.dnsServers.get(network.id);
      dns?.addRecords(dnsRecordNames(endpoint, network), ipAddress, endpoint.dnsServers);
      if (endpoint.ipv6Address) dns?.addRecords(dnsRecordNames(endpoint, network), endpoint.ipv6Address);
      if (endpoint.links) dns?.setLinks(ipAddress, linkAliases(endpoint.links));
      this.logger.info('endpoint connected', {
        network: network.name,
        container: endpoint.containerId,
        ipAddress,
      });
      return this.endpointInfo(endpoint, network);
    });
  }

  disconnect(containerId: string, networkIdOrName: string): Promise<void> {
    return this.locked(async () => {
      this.assertInitialized();
      const network = this.lookup(networkIdOrName);
      const endpoint = this.state.endpoints.find(
        (e) => e.networkId === network.id && e.containerId === containerId,
      );
      if (!endpoint) throw forbidden(`container ${containerId} is not connected to network ${network.name}`);
      await this.removeEndpoint(endpoint);
      await this.restoreDefaultRoute(endpoint);
      await this.save();
      await this.applyFirewall();
    });
  }

  /** Disconnects a container from every network (container stop/removal); no error when it has none. */
  disconnectAll(containerId: string): Promise<void> {
    return this.locked(async () => {
      this.assertInitialized();
      const endpoints = this.state.endpoints.filter((e) => e.containerId === containerId);
      // `--network none` and host containers have nothing here: no state or firewall to rewrite.
      const published = this.state.ports.some((p) => p.containerId === containerId);
      if (endpoints.length === 0 && !published) return;
      for (const endpoint of endpoints) {
        await this.removeEndpoint(endpoint);
      }
      await this.unpublishLocked(containerId);
      await this.save();
      // The rules name bridges, subnets and published ports, never a container's address.
      if (published) await this.applyFirewall();
    });
  }

  /** The container's endpoints, for `NetworkSettings` and resolv.conf. */
  endpoints(containerId: string): Promise<EndpointInfo[]> {
    return this.reading(() =>
      this.state.endpoints
        .filter((e) => e.containerId === containerId)
        .map((e) => this.endpointInfo(e, this.lookup(e.networkId))),
    );
  }

  /** `NetworkSettings.Networks` and `NetworkSettings.Ports` of `docker inspect` for a container. */
  containerNetworkSettings(
    containerId: string,
    exposedPorts: readonly string[] = [],
  ): Promise<{
    Networks: Record<string, EndpointSettings>;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  }> {
    return this.locked(async () => {
      this.assertInitialized();
      const Networks: Record<string, EndpointSettings> = {};
      for (const endpoint of this.state.endpoints.filter((e) => e.containerId === containerId)) {
        const network = this.lookup(endpoint.networkId);
        const info = this.endpointInfo(endpoint, network);
        const userNetwork = network.name !== 'bridge';
        Networks[network.name] = {
          IPAMConfig: null,
          Links: endpoint.links?.length ? [...endpoint.links] : null,
          Aliases: userNetwork ? info.aliases : null,
          MacAddress: info.macAddress,
          NetworkID: network.id,
          EndpointID: info.endpointId,
          Gateway: info.gateway,
          IPAddress: info.ipAddress,
          IPPrefixLen: info.prefixLen,
          IPv6Gateway: info.gateway6,
          GlobalIPv6Address: info.ipv6Address,
          GlobalIPv6PrefixLen: info.prefixLen6,
          DriverOpts: null,
          DNSNames: userNetwork ? dnsNames(endpoint) : null,
        };
      }
      const Ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
      for (const exposed of exposedPorts) Ports[exposed.includes('/') ? exposed : `${exposed}/tcp`] = null;
      for (const port of this.state.ports.filter((p) => p.containerId === containerId)) {
        const key = `${port.containerPort}/${port.protocol}`;
        const list = Ports[key] ?? [];
        list.push({ HostIp: port.hostIp, HostPort: String(port.hostPort) });
        Ports[key] = list;
      }
      return { Networks, Ports };
    });
  }

  // ---- published ports ----

  /**
   * Publishes container ports on the host (idempotent: publishing the same binding again returns it).
   * Each binding gets a kernel DNAT rule and, for tcp/udp, a userland proxy listener which also
   * holds the host port. Throws Docker's `Bind for 0.0.0.0:8080 failed: port is already allocated`.
   */
  publishPorts(
    containerId: string,
    containerIp: string,
    bindings: readonly PortBindingRequest[],
  ): Promise<ResolvedPortBinding[]> {
    return this.locked(async () => {
      this.assertInitialized();
      if (parseIpv4(containerIp) === undefined)
        throw invalidParameter(`invalid container IP address: ${containerIp}`);
      const added: PublishedPort[] = [];
      const result: ResolvedPortBinding[] = [];
      try {
        for (const binding of bindings) {
          const existing = this.findPublished(containerId, containerIp, binding);
          if (existing) {
            result.push(resolved(existing));
            continue;
          }
          const port = await this.allocateHostPort(containerId, containerIp, binding);
          this.state.ports.push(port);
          added.push(port);
          result.push(resolved(port));
        }
        await this.save();
        await this.applyFirewall();
      } catch (err) {
        for (const port of added) await this.proxy.remove(port);
        this.state.ports = this.state.ports.filter((p) => !added.includes(p));
        await this.save();
        throw err;
      }
      return result;
    });
  }

  /** Removes the container's published ports (all, or those matching `bindings`). */
  unpublishPorts(containerId: string, bindings?: readonly PortBindingRequest[]): Promise<void> {
    return this.locked(async () => {
      this.assertInitialized();
      await this.unpublishLocked(containerId, bindings);
      await this.save();
      await this.applyFirewall();
    });
  }

  /** The container's published ports (`docker port`). */
  listPorts(containerId: string): Promise<ResolvedPortBinding[]> {
    return this.reading(() => this.state.ports.filter((p) => p.containerId === containerId).map(resolved));
  }

  /** Packets the kernel DNATed for a published host port (diagnostics; shows the kernel path was used). */
  dnatPacketCount(hostPort: number, protocol: PortProtocol = 'tcp'): Promise<number> {
    if (!this.firewall) throw systemError('network manager is not initialized');
    return this.firewall.dnatPacketCount(hostPort, protocol);
  }

  // ---- internals ----

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A read-only operation: serialised with the writers so it never sees half an update. */
  private reading<T>(fn: () => T): Promise<T> {
    return this.locked(async () => {
      this.assertInitialized();
      return fn();
    });
  }

  private assertInitialized(): void {
    if (!this.initialized)
      throw new NetworkError('unavailable', 'network manager is not initialized; call init()');
  }

  private log() {
    return { logger: this.logger };
  }

  private async save(): Promise<void> {
    await this.store.save(this.state);
  }

  /** Networks backed by a Linux bridge: bridge networks and (single-node) overlay networks. */
  private bridgeNetworks(): NetworkRecord[] {
    return this.state.networks.filter((n) => n.driver === 'bridge' || n.driver === 'overlay');
  }

  private lookup(idOrName: string): NetworkRecord {
    const byName = this.state.networks.find((n) => n.name === idOrName || n.id === idOrName);
    if (byName) return byName;
    const byPrefix = idOrName === '' ? [] : this.state.networks.filter((n) => n.id.startsWith(idOrName));
    if (byPrefix.length === 1 && byPrefix[0]) return byPrefix[0];
    if (byPrefix.length > 1) {
      throw invalidParameter(
        `network ${idOrName} is ambiguous (${byPrefix.length} matches found based on ID prefix)`,
      );
    }
    throw notFound(`network ${idOrName} not found`);
  }

  private async ensurePredefinedNetworks(): Promise<void> {
    const config = this.options.defaultBridge;
    const existing = this.state.networks.find((n) => n.name === 'bridge');
    const hasEndpoints = existing && this.state.endpoints.some((e) => e.networkId === existing.id);
    if (!existing || (!hasEndpoints && (config.subnet || existing.bridge !== config.name))) {
      const { subnet, gateway } = await this.planAddresses(
        {
          name: 'bridge',
          ...(config.subnet ? { subnet: config.subnet } : {}),
          ...(config.gateway ? { gateway: config.gateway } : {}),
        },
        existing ? [existing.id] : [],
      );
      if (existing?.bridge && existing.bridge !== config.name) await deleteLink(existing.bridge, this.log());
      const network: NetworkRecord = {
        id: existing?.id ?? newId(),
        name: 'bridge',
        driver: 'bridge',
        created: existing?.created ?? new Date().toISOString(),
        bridge: config.name,
        subnet: formatCidr(subnet),
        gateway,
        internal: false,
        userSubnet: config.subnet !== undefined,
        labels: {},
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
          [BRIDGE_NAME_OPTION]: config.name,
          'com.docker.network.driver.mtu': '1500',
        },
      };
      this.state.networks = [network, ...this.state.networks.filter((n) => n.name !== 'bridge')];
    }
    for (const [name, driver] of [
      ['host', 'host'],
      ['none', 'null'],
    ] as const) {
      if (this.state.networks.some((n) => n.name === name)) continue;
      this.state.networks.push({
        id: newId(),
        name,
        driver,
        created: new Date().toISOString(),
        internal: false,
        userSubnet: false,
        labels: {},
        options: {},
      });
    }
  }

  /** Validates or picks a subnet/gateway/ip-range that overlaps no other network. */
  private async planAddresses(
    options: {
      name: string;
      subnet?: string | undefined;
      gateway?: string | undefined;
      ipRange?: string | undefined;
    },
    ignoreIds: readonly string[] = [],
    pools: readonly Ipv4Subnet[] = defaultSubnetPools(),
  ): Promise<{ subnet: Ipv4Subnet; gateway: string; ipRange?: Ipv4Subnet }> {
    const taken = this.state.networks
      .filter((n) => n.subnet && !ignoreIds.includes(n.id))
      .map((n) => mustParseCidr(n.subnet as string));
    let subnet: Ipv4Subnet;
    if (options.subnet !== undefined) {
      const parsed = parseCidr(options.subnet);
      if (!parsed)
        throw invalidParameter(`invalid subnet ${options.subnet}: invalid CIDR address: ${options.subnet}`);
      if (parsed.prefixLen > 30) throw invalidParameter(`subnet ${options.subnet} is too small`);
      if (taken.some((t) => subnetsOverlap(t, parsed))) {
        throw forbidden('Pool overlaps with other one on this address space');
      }
      subnet = parsed;
    } else {
      if (options.gateway !== undefined || options.ipRange !== undefined) {
        throw invalidParameter('gateway and ip-range can only be given together with a subnet');
      }
      const routes = await hostIpv4Subnets();
      const candidate = pools.find(
        (c) => !taken.some((t) => subnetsOverlap(t, c)) && !routes.some((r) => subnetsOverlap(r, c)),
      );
      if (!candidate) {
        throw forbidden(
          'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
        );
      }
      subnet = candidate;
    }
    let gateway = formatIpv4(subnet.network + 1);
    if (options.gateway !== undefined) {
      const gw = parseIpv4(options.gateway);
      if (gw === undefined || !containsAddress(subnet, gw)) {
        throw invalidParameter(`no matching subnet for gateway ${options.gateway}`);
      }
      gateway = options.gateway;
    }
    let ipRange: Ipv4Subnet | undefined;
    if (options.ipRange !== undefined) {
      ipRange = parseCidr(options.ipRange);
      if (
        !ipRange ||
        !containsAddress(subnet, ipRange.network) ||
        !containsAddress(subnet, lastAddress(ipRange))
      ) {
        throw invalidParameter(`no matching subnet for range ${options.ipRange}`);
      }
    }
    return { subnet, gateway, ...(ipRange ? { ipRange } : {}) };
  }

  private async setUpBridge(network: NetworkRecord): Promise<void> {
    if (!network.bridge || !network.subnet || !network.gateway) return;
    const prefixLen = mustParseCidr(network.subnet).prefixLen;
    await ensureBridge(network.bridge, `${network.gateway}/${prefixLen}`, this.log());
    if (network.subnet6 && network.gateway6) {
      const prefixLen6 = parseCidr6(network.subnet6)?.prefixLen ?? 64;
      await writeSysctl(`net.ipv6.conf.${network.bridge}.disable_ipv6`, '0', this.log());
      await run(
        'ip',
        ['-6', 'addr', 'replace', `${network.gateway6}/${prefixLen6}`, 'dev', network.bridge, 'nodad'],
        this.log(),
      );
    }
    if (!this.userlandProxy) {
      // Without the proxy, loopback traffic to published ports is DNATed onto the bridge (like Docker).
      await writeSysctl(`net.ipv4.conf.${network.bridge}.route_localnet`, '1', this.log());
    }
  }

  private async startDns(network: NetworkRecord): Promise<void> {
    // Docker's default bridge has no embedded DNS; only user-defined networks do.
    if (network.name === 'bridge' || !network.gateway || this.dnsServers.has(network.id)) return;
    const server = new EmbeddedDnsServer({
      address: network.gateway,
      port: this.options.dnsPort ?? 53,
      ...(this.options.resolvConfPath ? { resolvConfPath: this.options.resolvConfPath } : {}),
      logger: this.logger,
    });
    try {
      await server.start();
    } catch (err) {
      this.logger.warn(
        'embedded DNS server could not start; name resolution is unavailable on this network',
        {
          network: network.name,
          error: (err as Error).message,
        },
      );
      return;
    }
    for (const endpoint of this.state.endpoints.filter((e) => e.networkId === network.id)) {
      server.addRecords(dnsRecordNames(endpoint, network), endpoint.ipAddress, endpoint.dnsServers);
      if (endpoint.ipv6Address) server.addRecords(dnsRecordNames(endpoint, network), endpoint.ipv6Address);
      if (endpoint.links) server.setLinks(endpoint.ipAddress, linkAliases(endpoint.links));
    }
    this.dnsServers.set(network.id, server);
  }

  private async removeNetworkRecord(network: NetworkRecord): Promise<void> {
    if ((PREDEFINED as readonly string[]).includes(network.name)) {
      throw forbidden(`${network.name} is a pre-defined network and cannot be removed`);
    }
    if (this.state.endpoints.some((e) => e.networkId === network.id)) {
      throw forbidden(
        `error while removing network: network ${network.name} id ${network.id} has active endpoints`,
      );
    }
    await this.dnsServers.get(network.id)?.stop();
    this.dnsServers.delete(network.id);
    // Kernel objects first: a crash before the state is saved leaves a network that init() re-creates
    // and that can be removed again, never an orphan bridge nobody knows about.
    if (network.bridge) await deleteLink(network.bridge, this.log());
    this.state.networks = this.state.networks.filter((n) => n.id !== network.id);
    await this.save();
    await this.applyFirewall();
    this.logger.info('network removed', { name: network.name });
  }

  private allocateAddress(network: NetworkRecord, subnet: Ipv4Subnet, requested: string | undefined): string {
    const used = new Set(
      this.state.endpoints.filter((e) => e.networkId === network.id).map((e) => e.ipAddress),
    );
    const gateway = network.gateway;
    for (const aux of Object.values(network.auxAddresses ?? {})) used.add(aux);
    if (requested !== undefined) {
      if (!network.userSubnet) {
        throw invalidParameter(
          'user specified IP address is supported only when connecting to networks with user configured subnets',
        );
      }
      const ip = parseIpv4(requested);
      if (ip === undefined) throw invalidParameter(`invalid IPv4 address: ${requested}`);
      if (!containsAddress(subnet, ip) || ip === subnet.network || ip === lastAddress(subnet)) {
        throw invalidParameter(`no configured subnet or ip-range contain the IP address ${requested}`);
      }
      if (used.has(requested) || requested === gateway) throw conflict('Address already in use');
      return requested;
    }
    const range = network.ipRange ? mustParseCidr(network.ipRange) : subnet;
    const first = Math.max(range.network, subnet.network + 1);
    const last = Math.min(lastAddress(range), lastAddress(subnet) - 1);
    for (let ip = first; ip <= last; ip++) {
      const text = formatIpv4(ip);
      if (text !== gateway && !used.has(text)) return text;
    }
    throw new NetworkError(
      'unavailable',
      `no available IPv4 addresses on this network's address pools: ${network.name} (${network.id})`,
    );
  }

  /** An endpoint's IPv6 address on an IPv6 network (undefined elsewhere); Docker's rules as for IPv4. */
  private allocateAddress6(network: NetworkRecord, requested: string | undefined): string | undefined {
    const subnet = network.subnet6 ? parseCidr6(network.subnet6) : undefined;
    if (!subnet) {
      if (requested !== undefined)
        throw invalidParameter(
          'user specified IP address is supported only when connecting to networks with user configured subnets',
        );
      return undefined;
    }
    const used = new Set<bigint>();
    for (const e of this.state.endpoints)
      if (e.networkId === network.id && e.ipv6Address) used.add(parseIpv6(e.ipv6Address) as bigint);
    for (const aux of Object.values(network.auxAddresses6 ?? {})) {
      const a = parseIpv6(aux);
      if (a !== undefined) used.add(a);
    }
    const gateway = network.gateway6 ? parseIpv6(network.gateway6) : undefined;
    if (gateway !== undefined) used.add(gateway);
    if (requested !== undefined) {
      const ip = parseIpv6(requested);
      if (ip === undefined) throw invalidParameter(`invalid IPv6 address: ${requested}`);
      if (!contains6(subnet, ip) || ip === subnet.network)
        throw invalidParameter(`no configured subnet or ip-range contain the IP address ${requested}`);
      if (used.has(ip)) throw conflict('Address already in use');
      return formatIpv6(ip);
    }
    const range = network.ipRange6 ? parseCidr6(network.ipRange6) : undefined;
    const from = range ?? subnet;
    const last = lastAddress6(from);
    // Sequential, as Docker's IPAM; a bounded scan, since an IPv6 pool is never exhausted in practice.
    let ip = from.network === subnet.network ? from.network + 1n : from.network;
    for (let tries = 0; tries < 65536 && ip <= last; tries++, ip++) if (!used.has(ip)) return formatIpv6(ip);
    throw new NetworkError(
      'unavailable',
      `no available IPv6 addresses on this network's address pools: ${network.name} (${network.id})`,
    );
  }

  /** Validates the IPv6 pool of an EnableIPv6 network: Docker has no default IPv6 pools to pick from. */
  private planAddresses6(options: CreateNetworkOptions): {
    subnet: Ipv6Subnet;
    gateway: string;
    ipRange?: Ipv6Subnet;
  } {
    if (options.subnet6 === undefined)
      throw forbidden(
        'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network',
      );
    const subnet = parseCidr6(options.subnet6);
    if (!subnet)
      throw invalidParameter(`invalid subnet ${options.subnet6}: invalid CIDR address: ${options.subnet6}`);
    if (subnet.prefixLen > 126) throw invalidParameter(`subnet ${options.subnet6} is too small`);
    for (const n of this.state.networks) {
      const other = n.subnet6 ? parseCidr6(n.subnet6) : undefined;
      if (other && subnetsOverlap6(other, subnet))
        throw forbidden('Pool overlaps with other one on this address space');
    }
    let gateway = subnet.network + 1n;
    if (options.gateway6 !== undefined) {
      const gw = parseIpv6(options.gateway6);
      if (gw === undefined || !contains6(subnet, gw))
        throw invalidParameter(`no matching subnet for gateway ${options.gateway6}`);
      gateway = gw;
    }
    let ipRange: Ipv6Subnet | undefined;
    if (options.ipRange6 !== undefined) {
      ipRange = parseCidr6(options.ipRange6);
      if (!ipRange || !contains6(subnet, ipRange.network) || !contains6(subnet, lastAddress6(ipRange)))
        throw invalidParameter(`no matching subnet for range ${options.ipRange6}`);
    }
    return { subnet, gateway: formatIpv6(gateway), ...(ipRange ? { ipRange } : {}) };
  }

  private async removeEndpoint(endpoint: EndpointRecord): Promise<void> {
    await deleteLink(endpoint.hostVeth, this.log());
    this.dnsServers.get(endpoint.networkId)?.removeAddress(endpoint.ipAddress);
    if (endpoint.ipv6Address) this.dnsServers.get(endpoint.networkId)?.removeAddress(endpoint.ipv6Address);
    // Ports DNATed to this address would point at nothing (or at the next holder of the lease).
    for (const port of this.state.ports.filter(
      (p) => p.containerId === endpoint.containerId && p.containerIp === endpoint.ipAddress,
    )) {
      await this.proxy.remove(port);
    }
    this.state.ports = this.state.ports.filter(
      (p) => !(p.containerId === endpoint.containerId && p.containerIp === endpoint.ipAddress),
    );
    this.state.endpoints = this.state.endpoints.filter((e) => e.id !== endpoint.id);
  }

  /**
   * Disconnecting the network that held the default route leaves the container without one; like
   * Docker, another (non-internal) network of the container becomes the gateway.
   */
  private async restoreDefaultRoute(removed: EndpointRecord): Promise<void> {
    if (!(await netnsExists(removed.netnsPath))) return;
    const current = await run('nsenter', [
      `--net=${removed.netnsPath}`,
      'ip',
      '-4',
      'route',
      'show',
      'default',
    ]);
    if (current.trim() !== '') return;
    for (const endpoint of this.state.endpoints.filter((e) => e.containerId === removed.containerId)) {
      const network = this.state.networks.find((n) => n.id === endpoint.networkId);
      if (!network?.gateway || network.internal) continue;
      await run(
        'nsenter',
        [
          `--net=${endpoint.netnsPath}`,
          'ip',
          'route',
          'replace',
          'default',
          'via',
          network.gateway,
          'dev',
          endpoint.interfaceName,
        ],
        this.log(),
      );
      return;
    }
  }

  private async repairEndpoints(isAlive: InitOptions['isEndpointAlive']): Promise<void> {
    for (const endpoint of [...this.state.endpoints]) {
      const network = this.state.networks.find((n) => n.id === endpoint.networkId);
      const alive =
        network !== undefined &&
        (await netnsExists(endpoint.netnsPath)) &&
        (await linkExists(endpoint.hostVeth)) &&
        (isAlive ? await isAlive(endpoint.containerId) : true);
      if (!alive) {
        this.logger.info('removing endpoint of a container that is gone', {
          container: endpoint.containerId,
          ipAddress: endpoint.ipAddress,
        });
        await this.removeEndpoint(endpoint);
      } else if (network?.bridge) {
        // A veth may have lost its bridge (e.g. the bridge was re-created).
        await attachToBridge(endpoint.hostVeth, network.bridge, this.log());
      }
    }
    const known = new Set(this.state.endpoints.map((e) => e.hostVeth));
    for (const network of this.bridgeNetworks()) {
      for (const port of await bridgePorts(network.bridge as string)) {
        if (!known.has(port)) {
          this.logger.info('removing stray veth', { veth: port, bridge: network.bridge });
          await deleteLink(port, this.log());
        }
      }
    }
  }

  private async repairPorts(): Promise<void> {
    const kept: PublishedPort[] = [];
    for (const port of this.state.ports) {
      const owner = this.state.endpoints.some(
        (e) => e.containerId === port.containerId && e.ipAddress === port.containerIp,
      );
      if (!owner) continue;
      try {
        if (port.protocol !== 'sctp')
          await this.proxy.add({ ...port, protocol: port.protocol }, this.userlandProxy);
        kept.push(port);
      } catch (err) {
        this.logger.warn('could not restore published port', { port, error: (err as Error).message });
      }
    }
    this.state.ports = kept;
  }

  private async applyFirewall(): Promise<void> {
    if (!this.firewall) return;
    const rules: FirewallRules = {
      networks: this.bridgeNetworks().map((n) => ({
        bridge: n.bridge as string,
        subnet: n.subnet as string,
        internal: n.internal,
      })),
      ports: this.state.ports,
      userlandProxy: this.userlandProxy,
    };
    await this.firewall.apply(rules);
  }

  private findPublished(
    containerId: string,
    containerIp: string,
    b: PortBindingRequest,
  ): PublishedPort | undefined {
    const hostIp = b.hostIp || '0.0.0.0';
    const protocol = b.protocol ?? 'tcp';
    return this.state.ports.find(
      (p) =>
        p.containerId === containerId &&
        p.containerIp === containerIp &&
        p.hostIp === hostIp &&
        p.protocol === protocol &&
        p.containerPort === b.containerPort &&
        (b.hostPort === undefined ||
          b.hostPort === 0 ||
          (b.hostPortEnd === undefined
            ? p.hostPort === b.hostPort
            : p.hostPort >= b.hostPort && p.hostPort <= b.hostPortEnd)),
    );
  }

  private isAllocated(protocol: string, hostIp: string, hostPort: number): boolean {
    return this.state.ports.some(
      (p) =>
        p.protocol === protocol &&
        p.hostPort === hostPort &&
        (p.hostIp === hostIp ||
          p.hostIp === '0.0.0.0' ||
          hostIp === '0.0.0.0' ||
          p.hostIp === '::' ||
          hostIp === '::'),
    );
  }

  private async allocateHostPort(
    containerId: string,
    containerIp: string,
    b: PortBindingRequest,
  ): Promise<PublishedPort> {
    const hostIp = b.hostIp || '0.0.0.0';
    const protocol = b.protocol ?? 'tcp';
    if (isIP(hostIp) === 0) throw invalidParameter(`invalid IP address: ${hostIp}`);
    if (!Number.isInteger(b.containerPort) || b.containerPort < 0 || b.containerPort > 65535) {
      throw invalidParameter(`invalid containerPort: ${b.containerPort}`);
    }
    const make = (hostPort: number): PublishedPort => ({
      containerId,
      containerIp,
      hostIp,
      hostPort,
      containerPort: b.containerPort,
      protocol,
    });
    const tryBind = async (port: PublishedPort): Promise<boolean> => {
      if (this.isAllocated(protocol, hostIp, port.hostPort)) return false;
      if (protocol === 'sctp') return true;
      try {
        await this.proxy.add({ ...port, protocol }, this.userlandProxy);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') return false;
        if (code === 'EADDRNOTAVAIL')
          throw invalidParameter(
            `listen ${protocol} ${hostIp}:${port.hostPort}: bind: cannot assign requested address`,
          );
        throw err;
      }
    };
    const hostLabel = hostIp.includes(':') ? `[${hostIp}]` : hostIp;
    if (b.hostPort !== undefined && b.hostPort !== 0 && b.hostPortEnd === undefined) {
      if (!Number.isInteger(b.hostPort) || b.hostPort < 1 || b.hostPort > 65535) {
        throw invalidParameter(`invalid hostPort: ${b.hostPort}`);
      }
      const port = make(b.hostPort);
      if (!(await tryBind(port)))
        throw conflict(`Bind for ${hostLabel}:${b.hostPort} failed: port is already allocated`);
      return port;
    }
    const [start, end] =
      b.hostPort && b.hostPortEnd !== undefined ? [b.hostPort, b.hostPortEnd] : await ephemeralPortRange();
    // Start at a random point so concurrent daemons (and tests) rarely race for the same port.
    const size = end - start + 1;
    const offset = randomInt(size);
    for (let i = 0; i < size; i++) {
      const port = make(start + ((offset + i) % size));
      if (await tryBind(port)) return port;
    }
    throw conflict(
      b.hostPortEnd !== undefined
        ? `Bind for ${hostLabel}:${start}-${end} failed: port is already allocated`
        : 'all ports are allocated',
    );
  }

  private async unpublishLocked(
    containerId: string,
    bindings?: readonly PortBindingRequest[],
  ): Promise<void> {
    const matches = (p: PublishedPort) =>
      p.containerId === containerId &&
      (!bindings ||
        bindings.some(
          (b) =>
            b.containerPort === p.containerPort &&
            (b.protocol ?? 'tcp') === p.protocol &&
            (b.hostPort === undefined || b.hostPort === 0 || b.hostPort === p.hostPort) &&
            (b.hostIp === undefined || b.hostIp === '' || b.hostIp === p.hostIp),
        ));
    for (const port of this.state.ports.filter(matches)) await this.proxy.remove(port);
    this.state.ports = this.state.ports.filter((p) => !matches(p));
  }

  private endpointInfo(endpoint: EndpointRecord, network: NetworkRecord): EndpointInfo {
    const dns = this.dnsServers.has(network.id) ? network.gateway : undefined;
    return {
      networkId: network.id,
      networkName: network.name,
      endpointId: endpoint.id,
      interfaceName: endpoint.interfaceName,
      ipAddress: endpoint.ipAddress,
      prefixLen: endpoint.prefixLen,
      gateway: network.internal ? '' : (network.gateway ?? ''),
      ipv6Address: endpoint.ipv6Address ?? '',
      prefixLen6: endpoint.ipv6Address ? (endpoint.prefixLen6 ?? 0) : 0,
      gateway6: endpoint.ipv6Address && !network.internal ? (network.gateway6 ?? '') : '',
      macAddress: endpoint.macAddress,
      aliases: endpoint.aliases,
      ...(dns ? { dnsServer: dns } : {}),
    };
  }

  private inspectRecord(network: NetworkRecord): NetworkInspect {
    const containers: NetworkInspect['Containers'] = {};
    for (const e of this.state.endpoints.filter((x) => x.networkId === network.id)) {
      containers[e.containerId] = {
        Name: e.containerName,
        EndpointID: e.id,
        MacAddress: e.macAddress,
        IPv4Address: `${e.ipAddress}/${e.prefixLen}`,
        IPv6Address: e.ipv6Address ? `${e.ipv6Address}/${e.prefixLen6 ?? 64}` : '',
      };
    }
    return {
      Name: network.name,
      Id: network.id,
      Created: network.created,
      Scope: network.scope ?? 'local',
      Driver: network.driver,
      EnableIPv6: network.enableIPv6 ?? false,
      IPAM: {
        Driver: 'default',
        Options: network.ipamOptions ? { ...network.ipamOptions } : null,
        Config: [
          ...(network.subnet
            ? [
                {
                  Subnet: network.subnet,
                  ...(network.ipRange ? { IPRange: network.ipRange } : {}),
                  ...(network.gateway ? { Gateway: network.gateway } : {}),
                  ...(network.auxAddresses ? { AuxiliaryAddresses: { ...network.auxAddresses } } : {}),
                },
              ]
            : []),
          ...(network.subnet6
            ? [
                {
                  Subnet: network.subnet6,
                  ...(network.ipRange6 ? { IPRange: network.ipRange6 } : {}),
                  ...(network.gateway6 ? { Gateway: network.gateway6 } : {}),
                  ...(network.auxAddresses6 ? { AuxiliaryAddresses: { ...network.auxAddresses6 } } : {}),
                },
              ]
            : []),
        ],
      },
      Internal: network.internal,
      Attachable: network.attachable ?? false,
      Ingress: network.ingress ?? false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: containers,
      Options: { ...network.options },
      Labels: { ...network.labels },
    };
  }
}

/** Docker's default pools: 172.17–31.0.0/16, then 192.168.0–240.0/20. */
export function defaultSubnetPools(): Ipv4Subnet[] {
  const list: Ipv4Subnet[] = [];
  for (let b = 17; b <= 31; b++) list.push(mustParseCidr(`172.${b}.0.0/16`));
  for (let c = 0; c <= 240; c += 16) list.push(mustParseCidr(`192.168.${c}.0/20`));
  return list;
}

/** A swarm's default address pool, as Docker's: 10.0.0.0/8 cut into /24s (the first 256 of them). */
export function overlaySubnetPools(): Ipv4Subnet[] {
  const list: Ipv4Subnet[] = [];
  for (let c = 0; c <= 255; c++) list.push(mustParseCidr(`10.0.${c}.0/24`));
  return list;
}

async function ephemeralPortRange(): Promise<[number, number]> {
  try {
    const [low, high] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low && high && low <= high) return [low, high];
  } catch {
    // fall through to the kernel's documented default
  }
  return [32768, 60999];
}

async function attachToBridge(veth: string, bridge: string, log: { logger: Logger }): Promise<void> {
  await run('ip', ['link', 'set', veth, 'master', bridge], log);
  await run('ip', ['link', 'set', veth, 'up'], log);
}

function trimName(name: string): string {
  return name.replace(/^\//, '');
}

/** Names an endpoint answers to in the embedded DNS: container name, aliases and short id (like Docker). */
/** `name[:alias]` links into alias → name (an alias-less link resolves the name itself). */
function linkAliases(links: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const link of links) {
    const [name = '', alias] = link.split(':');
    out.set((alias || name).toLowerCase(), name.replace(/^\//, ''));
  }
  return out;
}

function dnsNames(endpoint: EndpointRecord): string[] {
  return [endpoint.containerName, ...endpoint.aliases, endpoint.containerId.slice(0, 12)];
}

/** DNS records also answer "name.network" (Docker resolves names qualified with the network name). */
function dnsRecordNames(endpoint: EndpointRecord, network: NetworkRecord): string[] {
  const names = dnsNames(endpoint);
  return [...names, ...names.map((n) => `${n}.${network.name}`)];
}

function resolved(port: PublishedPort): ResolvedPortBinding {
  return {
    hostIp: port.hostIp,
    hostPort: port.hostPort,
    containerPort: port.containerPort,
    protocol: port.protocol,
  };
}
