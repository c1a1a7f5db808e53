import type { Logger } from '@ts-container/common';
import { type DnsServerOptions, EmbeddedDnsServer } from './dns-server.js';
import type { EndpointRecord, NetworkRecord } from './state.js';

// The embedded DNS of user-defined networks, as libnetwork's resolver: one server per network on
// its gateway address, answering for the names of the network's endpoints.

/** What the resolver needs of a DNS server (EmbeddedDnsServer; a fake in tests). */
export interface NameServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  addRecords(names: readonly string[], address: string, upstreams?: readonly string[]): void;
  setLinks(address: string, aliases: ReadonlyMap<string, string>): void;
  removeAddress(address: string): void;
}

export interface ResolverOptions {
  /** Port of the servers on each user network's gateway. Default 53. */
  port?: number | undefined;
  /** Where the servers find upstream resolvers. Default /etc/resolv.conf. */
  resolvConfPath?: string | undefined;
  logger: Logger;
  createServer?: (options: DnsServerOptions) => NameServer;
}

/** Names an endpoint answers to in the embedded DNS: container name, aliases and short id (like Docker). */
export function dnsNames(
  endpoint: Pick<EndpointRecord, 'containerName' | 'aliases' | 'containerId'>,
): string[] {
  return [endpoint.containerName, ...endpoint.aliases, endpoint.containerId.slice(0, 12)];
}

/** DNS records also answer "name.network" (Docker resolves names qualified with the network name). */
export function dnsRecordNames(
  endpoint: Pick<EndpointRecord, 'containerName' | 'aliases' | 'containerId'>,
  network: Pick<NetworkRecord, 'name'>,
): string[] {
  const names = dnsNames(endpoint);
  return [...names, ...names.map((n) => `${n}.${network.name}`)];
}

/** `name[:alias]` links into alias → name (an alias-less link resolves the name itself). */
export function linkAliases(links: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const link of links) {
    const [name = '', alias] = link.split(':');
    out.set((alias || name).toLowerCase(), name.replace(/^\//, ''));
  }
  return out;
}

export class Resolver {
  private readonly servers = new Map<string, NameServer>();
  private readonly createServer: (options: DnsServerOptions) => NameServer;

  constructor(private readonly options: ResolverOptions) {
    this.createServer = options.createServer ?? ((o) => new EmbeddedDnsServer(o));
  }

  /** Whether the network has a running server (its endpoints then use the gateway as nameserver). */
  serves(networkId: string): boolean {
    return this.servers.has(networkId);
  }

  /**
   * Starts the network's server with records for its endpoints. Docker's default bridge has no
   * embedded DNS; only user-defined networks do. A server that cannot start is logged, not fatal.
   */
  async start(network: NetworkRecord, endpoints: readonly EndpointRecord[]): Promise<void> {
    if (network.name === 'bridge' || !network.gateway || this.servers.has(network.id)) return;
    const server = this.createServer({
      address: network.gateway,
      port: this.options.port ?? 53,
      ...(this.options.resolvConfPath ? { resolvConfPath: this.options.resolvConfPath } : {}),
      logger: this.options.logger,
    });
    try {
      await server.start();
    } catch (err) {
      this.options.logger.warn(
        'embedded DNS server could not start; name resolution is unavailable on this network',
        { network: network.name, error: (err as Error).message },
      );
      return;
    }
    for (const endpoint of endpoints) addEndpointRecords(server, endpoint, network);
    this.servers.set(network.id, server);
  }

  async stop(networkId: string): Promise<void> {
    await this.servers.get(networkId)?.stop();
    this.servers.delete(networkId);
  }

  async stopAll(): Promise<void> {
    for (const server of this.servers.values()) await server.stop();
    this.servers.clear();
  }

  /** A new endpoint's names (with its --dns upstreams and its links) on its network's server. */
  addEndpoint(endpoint: EndpointRecord, network: NetworkRecord): void {
    const server = this.servers.get(network.id);
    if (server) addEndpointRecords(server, endpoint, network);
  }

  removeEndpoint(endpoint: EndpointRecord): void {
    const server = this.servers.get(endpoint.networkId);
    server?.removeAddress(endpoint.ipAddress);
    if (endpoint.ipv6Address) server?.removeAddress(endpoint.ipv6Address);
  }
}

function addEndpointRecords(server: NameServer, endpoint: EndpointRecord, network: NetworkRecord): void {
  server.addRecords(dnsRecordNames(endpoint, network), endpoint.ipAddress, endpoint.dnsServers);
  if (endpoint.ipv6Address) server.addRecords(dnsRecordNames(endpoint, network), endpoint.ipv6Address);
  if (endpoint.links) server.setLinks(endpoint.ipAddress, linkAliases(endpoint.links));
}
