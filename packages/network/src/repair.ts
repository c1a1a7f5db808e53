import type { Logger } from '@ts-container/common';
import type { EndpointRecord, NetworkRecord, PublishedPort } from './state.js';

// Crash repair at init(): the saved state says what should exist; endpoints whose container or
// kernel objects are gone are dropped, stray veths removed, published ports re-bound. (The
// firewall needs no repair: init() replaces its whole table from the state afterwards.)

/** What endpoint repair needs of the kernel side (the bridge driver) and of the manager. */
export interface EndpointRepairDeps {
  /** The endpoint's namespace and host veth both still exist. */
  endpointExists(endpoint: EndpointRecord): Promise<boolean>;
  /** Whether the container owning an endpoint still runs (default: it does). */
  isAlive?: ((containerId: string) => boolean | Promise<boolean>) | undefined;
  /** Drops the endpoint: its veth, DNS records, published ports and record. */
  removeEndpoint(endpoint: EndpointRecord): Promise<void>;
  attachToBridge(veth: string, bridge: string): Promise<void>;
  bridgePorts(bridge: string): Promise<string[]>;
  deleteLink(name: string): Promise<void>;
  logger: Logger;
}

/**
 * Removes endpoints of containers that are gone (or whose namespace or veth is), re-attaches the
 * others' veths to their bridges, then deletes veths on our bridges that no endpoint owns.
 * `endpoints()` is read again after the removals (removeEndpoint changes the list).
 */
export async function repairEndpoints(
  networks: readonly NetworkRecord[],
  endpoints: () => readonly EndpointRecord[],
  deps: EndpointRepairDeps,
): Promise<void> {
  for (const endpoint of [...endpoints()]) {
    const network = networks.find((n) => n.id === endpoint.networkId);
    const alive =
      network !== undefined &&
      (await deps.endpointExists(endpoint)) &&
      (deps.isAlive ? await deps.isAlive(endpoint.containerId) : true);
    if (!alive) {
      deps.logger.info('removing endpoint of a container that is gone', {
        container: endpoint.containerId,
        ipAddress: endpoint.ipAddress,
      });
      await deps.removeEndpoint(endpoint);
    } else if (network?.bridge) {
      // A veth may have lost its bridge (e.g. the bridge was re-created).
      await deps.attachToBridge(endpoint.hostVeth, network.bridge);
    }
  }
  const known = new Set(endpoints().map((e) => e.hostVeth));
  for (const network of networks) {
    if (!network.bridge) continue;
    for (const port of await deps.bridgePorts(network.bridge)) {
      if (!known.has(port)) {
        deps.logger.info('removing stray veth', { veth: port, bridge: network.bridge });
        await deps.deleteLink(port);
      }
    }
  }
}

/**
 * The published ports to keep: those whose endpoint survived and whose host port could be bound
 * again (`bind` re-creates the userland proxy's listener); the others are logged and dropped.
 */
export async function repairPorts(
  ports: readonly PublishedPort[],
  endpoints: readonly EndpointRecord[],
  bind: (port: PublishedPort) => Promise<void>,
  logger: Logger,
): Promise<PublishedPort[]> {
  const kept: PublishedPort[] = [];
  for (const port of ports) {
    const owner = endpoints.some(
      (e) => e.containerId === port.containerId && e.ipAddress === port.containerIp,
    );
    if (!owner) continue;
    try {
      await bind(port);
      kept.push(port);
    } catch (err) {
      logger.warn('could not restore published port', { port, error: (err as Error).message });
    }
  }
  return kept;
}
