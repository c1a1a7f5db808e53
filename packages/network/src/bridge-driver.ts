import type { Logger } from '@ts-container/common';
import { run } from './exec.js';
import { mustParseCidr } from './ipv4.js';
import { parseCidr6 } from './ipv6.js';
import {
  bridgePorts,
  createVeth,
  deleteLink,
  ensureBridge,
  linkExists,
  nextInterfaceName,
  writeSysctl,
} from './link.js';
import { netnsExists } from './netns.js';
import type { EndpointRecord, NetworkRecord } from './state.js';

// The kernel side of bridge networks, as libnetwork's bridge driver: one Linux bridge per network
// holding its gateway address, one veth pair per endpoint (host end on the bridge, the other end
// inside the container's namespace). It keeps no state: the manager's records say what to build.

export interface BridgeDriverOptions {
  logger: Logger;
  /** Without the userland proxy, loopback traffic to published ports is DNATed onto the bridges. */
  userlandProxy: boolean;
}

/** The extras of one endpoint's veth that its records do not hold. */
export interface EndpointWiring {
  onlyLoopback: boolean;
  linkLocalIps?: readonly string[] | undefined;
}

export class BridgeDriver {
  constructor(private readonly options: BridgeDriverOptions) {}

  private log() {
    return { logger: this.options.logger };
  }

  async enableForwarding(): Promise<void> {
    await writeSysctl('net.ipv4.ip_forward', '1', this.log());
  }

  /** Creates (or repairs) the network's bridge with its gateway addresses. */
  async setUpBridge(network: NetworkRecord): Promise<void> {
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
    if (!this.options.userlandProxy) {
      // Without the proxy, loopback traffic to published ports is DNATed onto the bridge (like Docker).
      await writeSysctl(`net.ipv4.conf.${network.bridge}.route_localnet`, '1', this.log());
    }
  }

  /** Removes a link (bridge or veth); a link already gone is fine. */
  async deleteLink(name: string): Promise<void> {
    await deleteLink(name, this.log());
  }

  /** The name the next interface inside the namespace gets (eth0, eth1…). */
  async interfaceName(netnsPath: string, onlyLoopback: boolean): Promise<string> {
    return onlyLoopback ? 'eth0' : await nextInterfaceName(netnsPath);
  }

  /** The endpoint's veth pair, addresses and routes (none out of an internal network). */
  async createEndpoint(
    endpoint: EndpointRecord,
    network: NetworkRecord,
    wiring: EndpointWiring,
  ): Promise<void> {
    const v6 = endpoint.ipv6Address !== undefined && network.subnet6 !== undefined;
    await createVeth(
      {
        hostName: endpoint.hostVeth,
        bridge: network.bridge as string,
        netnsPath: endpoint.netnsPath,
        interfaceName: endpoint.interfaceName,
        macAddress: endpoint.macAddress,
        ipCidr: `${endpoint.ipAddress}/${endpoint.prefixLen}`,
        ...(network.internal ? {} : { gateway: network.gateway as string }),
        ...(v6 ? { ipv6Cidr: `${endpoint.ipv6Address}/${endpoint.prefixLen6}` } : {}),
        ...(v6 && network.gateway6 && !network.internal ? { gateway6: network.gateway6 } : {}),
        onlyLoopback: wiring.onlyLoopback,
        ...(wiring.linkLocalIps?.length ? { linkLocalIps: [...wiring.linkLocalIps] } : {}),
      },
      this.log(),
    );
  }

  async deleteEndpoint(endpoint: EndpointRecord): Promise<void> {
    await deleteLink(endpoint.hostVeth, this.log());
  }

  /**
   * Disconnecting the network that held the default route leaves the container without one; like
   * Docker, another (non-internal) network of the container becomes the gateway. `remaining` are
   * the container's other endpoints with their networks, in connection order.
   */
  async restoreDefaultRoute(
    removed: EndpointRecord,
    remaining: readonly { endpoint: EndpointRecord; network: NetworkRecord | undefined }[],
  ): Promise<void> {
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
    for (const { endpoint, network } of remaining) {
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

  // ---- for crash repair ----

  async endpointExists(endpoint: EndpointRecord): Promise<boolean> {
    return (await netnsExists(endpoint.netnsPath)) && (await linkExists(endpoint.hostVeth));
  }

  /** Puts a veth back on its bridge (e.g. after the bridge was re-created). */
  async attachToBridge(veth: string, bridge: string): Promise<void> {
    await run('ip', ['link', 'set', veth, 'master', bridge], this.log());
    await run('ip', ['link', 'set', veth, 'up'], this.log());
  }

  /** Interfaces on the bridge (its veth ports). */
  bridgePorts(bridge: string): Promise<string[]> {
    return bridgePorts(bridge);
  }
}
