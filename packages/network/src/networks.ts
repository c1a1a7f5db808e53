import type { ManagerContext } from './context.js';
import { forbidden } from './errors.js';
import {
  defaultSubnetPools,
  overlaySubnetPools,
  planPool,
  planPool6,
  takenSubnets,
  takenSubnets6,
} from './ipam.js';
import { type Ipv4Subnet, formatCidr, parseCidr, subnetsOverlap } from './ipv4.js';
import { hostIpv4Subnets, linkIpv4Address } from './link.js';
import { type NetworkMode, parseNetworkMode } from './network-mode.js';
import {
  checkNewNetwork,
  defaultBridgeOutdated,
  defaultBridgeRecord,
  isPredefined,
  lookupNetwork,
  missingHostAndNone,
  networkRecord,
} from './records.js';
import type { NetworkRecord } from './state.js';
import type {
  CreateNetworkOptions,
  DefaultBridgeConfig,
  NetworkInspect,
  ResolvedNetworkMode,
} from './types.js';
import { inspectRecord } from './views.js';

/**
 * Networks (libnetwork's network objects): Docker's predefined `bridge`, `host` and `none`,
 * user-defined bridge and overlay networks, their pools from IPAM, bridges from the bridge driver
 * and DNS servers from the resolver. Runs under the manager's lock.
 */
export class NetworkService {
  constructor(
    private readonly ctx: ManagerContext,
    /** Host routes new default pools must avoid (`ip route`; a fake in tests). */
    private readonly hostRoutes: () => Promise<readonly Ipv4Subnet[]> = hostIpv4Subnets,
    /** A device's IPv4 address as "a.b.c.d/n" (`ip addr`; a fake in tests). */
    private readonly linkAddress: (name: string) => Promise<string | undefined> = linkIpv4Address,
  ) {}

  private get state() {
    return this.ctx.state;
  }

  lookup(idOrName: string): NetworkRecord {
    return lookupNetwork(this.state.networks, idOrName);
  }

  inspect(network: NetworkRecord): NetworkInspect {
    return inspectRecord(
      network,
      this.state.endpoints.filter((e) => e.networkId === network.id),
    );
  }

  /**
   * Makes Docker's `bridge` network (on `config`'s device, re-planned when it has no endpoints and
   * its configuration changed), `host` and `none`, in the state only.
   */
  async ensurePredefined(config: DefaultBridgeConfig): Promise<void> {
    const existing = this.state.networks.find((n) => n.name === 'bridge');
    if (defaultBridgeOutdated(existing, config, this.state.endpoints)) {
      const taken = takenSubnets(this.state.networks, existing ? [existing.id] : []);
      const request =
        config.subnet || config.gateway
          ? {
              ...(config.subnet ? { subnet: config.subnet } : {}),
              ...(config.gateway ? { gateway: config.gateway } : {}),
            }
          : await this.bridgeDeviceAddress(config.name, taken);
      const pool = await planPool(request, taken, defaultSubnetPools(), this.hostRoutes);
      if (existing?.bridge && existing.bridge !== config.name)
        await this.ctx.driver.deleteLink(existing.bridge);
      const network = defaultBridgeRecord(existing, config, pool);
      this.state.networks = [network, ...this.state.networks.filter((n) => n.name !== 'bridge')];
    }
    this.state.networks.push(...missingHostAndNone(this.state.networks));
  }

  /**
   * Without a configured subnet, the bridge device's own address when it already has one that no
   * other network holds (dockerd keeps docker0's): a second daemon, or a new data root, on the same
   * device then shares one subnet rather than adding another beside it.
   */
  private async bridgeDeviceAddress(
    device: string,
    taken: readonly Ipv4Subnet[],
  ): Promise<{ subnet?: string; gateway?: string }> {
    const cidr = await this.linkAddress(device);
    const subnet = cidr === undefined ? undefined : parseCidr(cidr);
    if (!subnet || subnet.prefixLen > 30 || taken.some((t) => subnetsOverlap(t, subnet))) return {};
    return { subnet: formatCidr(subnet), gateway: cidr!.split('/')[0]! };
  }

  async create(options: CreateNetworkOptions): Promise<NetworkInspect> {
    const planned = checkNewNetwork(options, this.state.networks);
    const pools = planned.driver === 'overlay' ? overlaySubnetPools() : defaultSubnetPools();
    const pool = await planPool(options, takenSubnets(this.state.networks), pools, this.hostRoutes);
    const pool6 = options.enableIPv6 ? planPool6(options, takenSubnets6(this.state.networks)) : undefined;
    const network = networkRecord(options, planned, pool, pool6);
    // State first: a crash before the bridge exists is repaired by init(), which creates it.
    this.state.networks.push(network);
    await this.ctx.save();
    await this.ctx.driver.setUpBridge(network);
    await this.ctx.applyFirewall();
    await this.startDns(network);
    this.ctx.logger.info('network created', {
      name: network.name,
      subnet: network.subnet,
      bridge: network.bridge,
    });
    return this.inspect(network);
  }

  /** The network's embedded DNS server (user-defined networks only), with its endpoints' names. */
  async startDns(network: NetworkRecord): Promise<void> {
    await this.ctx.resolver.start(
      network,
      this.state.endpoints.filter((e) => e.networkId === network.id),
    );
  }

  async remove(network: NetworkRecord): Promise<void> {
    if (isPredefined(network)) {
      throw forbidden(`${network.name} is a pre-defined network and cannot be removed`);
    }
    if (this.state.endpoints.some((e) => e.networkId === network.id)) {
      throw forbidden(
        `error while removing network: network ${network.name} id ${network.id} has active endpoints`,
      );
    }
    await this.ctx.resolver.stop(network.id);
    // Kernel objects first: a crash before the state is saved leaves a network that init() re-creates
    // and that can be removed again, never an orphan bridge nobody knows about.
    if (network.bridge) await this.ctx.driver.deleteLink(network.bridge);
    this.state.networks = this.state.networks.filter((n) => n.id !== network.id);
    await this.ctx.save();
    await this.ctx.applyFirewall();
    this.ctx.logger.info('network removed', { name: network.name });
  }

  /** Removes user-defined networks without endpoints; returns their names (Docker's NetworksDeleted). */
  async prune(filter: { labels?: Record<string, string> }): Promise<string[]> {
    const removed: string[] = [];
    for (const network of [...this.state.networks]) {
      if (isPredefined(network)) continue;
      if (this.state.endpoints.some((e) => e.networkId === network.id)) continue;
      const labels = filter.labels ?? {};
      if (Object.entries(labels).some(([k, v]) => network.labels[k] !== v)) continue;
      await this.remove(network);
      removed.push(network.name);
    }
    return removed;
  }

  /** Resolves a `--network` value; a name that is no network gives Docker's `network X not found`. */
  resolveNetworkMode(value: string): ResolvedNetworkMode {
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
  }
}
