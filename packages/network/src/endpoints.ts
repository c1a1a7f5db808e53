import type { ManagerContext } from './context.js';
import { forbidden, invalidParameter } from './errors.js';
import { allocateIpv4, allocateIpv6 } from './ipam.js';
import { mustParseCidr, parseIpv4 } from './ipv4.js';
import { parseCidr6 } from './ipv6.js';
import { netnsExists } from './netns.js';
import { type PortAllocator, findPublished, matchesUnpublish, resolvedBinding } from './port-allocator.js';
import { checkConnect, checkEndpointOptions, endpointRecord, lookupNetwork, newId } from './records.js';
import type { EndpointRecord, NetworkRecord, PublishedPort } from './state.js';
import type {
  ConnectOptions,
  EndpointInfo,
  EndpointSettings,
  PortBindingRequest,
  ResolvedPortBinding,
} from './types.js';
import { endpointInfo, endpointSettings, portsView } from './views.js';

/** The userland proxy as the endpoints see it: it releases a published port's listener. */
export interface PortReleaser {
  remove(port: { hostIp: string; hostPort: number; protocol: string }): Promise<void>;
}

/**
 * A container's side of networking (libnetwork's endpoints and sandbox): leases from IPAM, veths
 * from the bridge driver, names in the resolver, published ports from the port allocator. Runs
 * under the manager's lock, on an initialized manager.
 */
export class EndpointService {
  constructor(
    private readonly ctx: ManagerContext,
    private readonly allocator: PortAllocator,
    private readonly proxy: PortReleaser,
  ) {}

  private get state() {
    return this.ctx.state;
  }

  async connect(options: ConnectOptions): Promise<EndpointInfo> {
    const network = lookupNetwork(this.state.networks, options.network);
    checkConnect(network, options, this.state.endpoints);
    if (!(await netnsExists(options.netnsPath))) {
      throw invalidParameter(`network namespace ${options.netnsPath} does not exist`);
    }
    const onNetwork = this.state.endpoints.filter((e) => e.networkId === network.id);
    const subnet = mustParseCidr(network.subnet as string);
    const leased = onNetwork.map((e) => e.ipAddress);
    const ipAddress = allocateIpv4(network, subnet, leased, options.ipv4Address);
    const leased6 = onNetwork.flatMap((e) => (e.ipv6Address ? [e.ipv6Address] : []));
    const ipv6Address = allocateIpv6(network, leased6, options.ipv6Address);
    const subnet6 = network.subnet6 ? parseCidr6(network.subnet6) : undefined;
    checkEndpointOptions(options);
    const id = newId();
    const onlyLoopback = options.onlyLoopback ?? false;
    const interfaceName = await this.ctx.driver.interfaceName(options.netnsPath, onlyLoopback);
    const endpoint = endpointRecord(
      options,
      network,
      { id, interfaceName, ipAddress, prefixLen: subnet.prefixLen },
      ipv6Address && subnet6 ? { ipv6Address, prefixLen6: subnet6.prefixLen } : undefined,
    );
    // The lease is persisted before the veth exists: a crash in between leaves an endpoint
    // without veth, which init() removes.
    this.state.endpoints.push(endpoint);
    await this.ctx.save();
    try {
      await this.ctx.driver.createEndpoint(endpoint, network, {
        onlyLoopback,
        linkLocalIps: options.linkLocalIps,
      });
    } catch (err) {
      this.state.endpoints = this.state.endpoints.filter((e) => e.id !== endpoint.id);
      await this.ctx.save();
      throw err;
    }
    this.ctx.resolver.addEndpoint(endpoint, network);
    this.ctx.logger.info('endpoint connected', {
      network: network.name,
      container: endpoint.containerId,
      ipAddress,
    });
    return this.info(endpoint, network);
  }

  async disconnect(containerId: string, networkIdOrName: string): Promise<void> {
    const network = lookupNetwork(this.state.networks, networkIdOrName);
    const endpoint = this.state.endpoints.find(
      (e) => e.networkId === network.id && e.containerId === containerId,
    );
    if (!endpoint) throw forbidden(`container ${containerId} is not connected to network ${network.name}`);
    await this.remove(endpoint);
    const remaining = this.state.endpoints
      .filter((e) => e.containerId === containerId)
      .map((e) => ({ endpoint: e, network: this.state.networks.find((n) => n.id === e.networkId) }));
    await this.ctx.driver.restoreDefaultRoute(endpoint, remaining);
    await this.ctx.save();
    await this.ctx.applyFirewall();
  }

  async disconnectAll(containerId: string): Promise<void> {
    const endpoints = this.state.endpoints.filter((e) => e.containerId === containerId);
    // `--network none` and host containers have nothing here: no state or firewall to rewrite.
    const published = this.state.ports.some((p) => p.containerId === containerId);
    if (endpoints.length === 0 && !published) return;
    for (const endpoint of endpoints) await this.remove(endpoint);
    await this.releasePorts(containerId);
    await this.ctx.save();
    // The rules name bridges, subnets and published ports, never a container's address.
    if (published) await this.ctx.applyFirewall();
  }

  /** Drops an endpoint: its veth, DNS records, the ports published to its address, and its lease. */
  async remove(endpoint: EndpointRecord): Promise<void> {
    await this.ctx.driver.deleteEndpoint(endpoint);
    this.ctx.resolver.removeEndpoint(endpoint);
    // Ports DNATed to this address would point at nothing (or at the next holder of the lease).
    const toEndpoint = (p: PublishedPort) =>
      p.containerId === endpoint.containerId && p.containerIp === endpoint.ipAddress;
    for (const port of this.state.ports.filter(toEndpoint)) await this.proxy.remove(port);
    this.state.ports = this.state.ports.filter((p) => !toEndpoint(p));
    this.state.endpoints = this.state.endpoints.filter((e) => e.id !== endpoint.id);
  }

  info(endpoint: EndpointRecord, network: NetworkRecord): EndpointInfo {
    return endpointInfo(endpoint, network, this.ctx.resolver.serves(network.id));
  }

  list(containerId: string): EndpointInfo[] {
    return this.state.endpoints
      .filter((e) => e.containerId === containerId)
      .map((e) => this.info(e, lookupNetwork(this.state.networks, e.networkId)));
  }

  settings(
    containerId: string,
    exposedPorts: readonly string[],
  ): {
    Networks: Record<string, EndpointSettings>;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  } {
    const Networks: Record<string, EndpointSettings> = {};
    for (const endpoint of this.state.endpoints.filter((e) => e.containerId === containerId)) {
      const network = lookupNetwork(this.state.networks, endpoint.networkId);
      Networks[network.name] = endpointSettings(endpoint, network, this.info(endpoint, network));
    }
    const published = this.state.ports.filter((p) => p.containerId === containerId);
    return { Networks, Ports: portsView(exposedPorts, published) };
  }

  // ---- published ports ----

  async publish(
    containerId: string,
    containerIp: string,
    bindings: readonly PortBindingRequest[],
  ): Promise<ResolvedPortBinding[]> {
    if (parseIpv4(containerIp) === undefined)
      throw invalidParameter(`invalid container IP address: ${containerIp}`);
    const added: PublishedPort[] = [];
    const result: ResolvedPortBinding[] = [];
    try {
      for (const binding of bindings) {
        const existing = findPublished(this.state.ports, containerId, containerIp, binding);
        if (existing) {
          result.push(resolvedBinding(existing));
          continue;
        }
        const port = await this.allocator.allocate(this.state.ports, containerId, containerIp, binding);
        this.state.ports.push(port);
        added.push(port);
        result.push(resolvedBinding(port));
      }
      await this.ctx.save();
      await this.ctx.applyFirewall();
    } catch (err) {
      for (const port of added) await this.proxy.remove(port);
      this.state.ports = this.state.ports.filter((p) => !added.includes(p));
      await this.ctx.save();
      throw err;
    }
    return result;
  }

  async unpublish(containerId: string, bindings?: readonly PortBindingRequest[]): Promise<void> {
    await this.releasePorts(containerId, bindings);
    await this.ctx.save();
    await this.ctx.applyFirewall();
  }

  listPorts(containerId: string): ResolvedPortBinding[] {
    return this.state.ports.filter((p) => p.containerId === containerId).map(resolvedBinding);
  }

  private async releasePorts(containerId: string, bindings?: readonly PortBindingRequest[]): Promise<void> {
    const matches = (p: PublishedPort) => matchesUnpublish(p, containerId, bindings);
    for (const port of this.state.ports.filter(matches)) await this.proxy.remove(port);
    this.state.ports = this.state.ports.filter((p) => !matches(p));
  }
}
