import {
  type IpamPool,
  type NetworkConnectRequest,
  type NetworkCreateRequest,
  labelFilterMatches,
} from '@ts-container/api';
import type { NetworkInspect } from '@ts-container/network';
import { BridgeNetworking, endpointConfig } from './bridge-networking.js';
import type { ContainerRecord } from './container-store.js';
import { EngineError, invalidParameter, notFound } from './errors.js';
import type { ContainerNetworking } from './networking.js';

export interface NetworkServiceOptions {
  networking: ContainerNetworking;
  /** Finds a container by ID, name or prefix (throws not-found). */
  container: (ref: string) => ContainerRecord;
  /** Records a container's new NetworkSettings (the container store's atomic update). */
  saveNetworkSettings: (id: string, settings: Record<string, unknown>) => Promise<unknown>;
  /** Throws unless this node is a swarm manager (overlay networks are swarm objects). */
  assertSwarmManager: () => void;
}

const PREDEFINED = ['bridge', 'host', 'none'];

/** The `/networks` API over the engine's bridge networking, and what a container shows of it. */
export class NetworkService {
  constructor(private readonly options: NetworkServiceOptions) {}

  private bridge(): BridgeNetworking {
    const n = this.options.networking;
    if (!(n instanceof BridgeNetworking))
      throw new EngineError('unavailable', 'networking is not enabled in this daemon');
    return n;
  }

  /** A container's NetworkSettings as inspect shows them: a stopped one keeps its networks, not its addresses. */
  displaySettings(c: ContainerRecord): Record<string, unknown> {
    const n = this.options.networking;
    return n instanceof BridgeNetworking ? n.displaySettings(c) : c.NetworkSettings;
  }

  /** `docker network ls`: name and id are substring/prefix matches, the rest exact. */
  async list(filters: Map<string, string[]> = new Map()): Promise<NetworkInspect[]> {
    return (await this.bridge().manager.listNetworks()).filter((n) => matchesNetworkFilters(n, filters));
  }

  async inspect(ref: string, scope?: string): Promise<NetworkInspect> {
    const network = await this.bridge().manager.inspectNetwork(ref);
    // moby: a network of another scope than the one asked for is not found.
    if (scope && scope !== network.Scope) throw notFound(`network ${ref} not found`);
    return network;
  }

  async create(body: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    if (body.Name === '') throw invalidParameter('network name is required');
    if (body.IPAM?.Driver && body.IPAM.Driver !== 'default')
      throw notFound(`plugin "${body.IPAM.Driver}" not found`);
    // One pool per address family, told apart by the subnet's (or the gateway's) notation.
    const configs = body.IPAM?.Config ?? [];
    const isV6 = (c: IpamPool) => (c.Subnet || c.Gateway || c.IPRange || '').includes(':');
    const v4 = configs.filter((c) => !isV6(c));
    const v6 = configs.filter(isV6);
    if (v4.length > 1 || v6.length > 1)
      throw invalidParameter('only one IPAM configuration per address family is supported');
    const pool4 = v4[0];
    const pool6 = v6[0];
    const driver = body.Driver || 'bridge';
    if (driver === 'overlay') this.options.assertSwarmManager();
    const scope = driver === 'overlay' ? 'swarm' : 'local';
    if (body.Scope && body.Scope !== scope)
      throw new EngineError(
        'not-implemented',
        `scope "${body.Scope}" is not supported for ${driver} networks by this engine (only "${scope}")`,
      );
    const created = await this.bridge().manager.createNetwork({
      name: body.Name,
      driver,
      subnet: pool4?.Subnet || undefined,
      gateway: pool4?.Gateway || undefined,
      ipRange: pool4?.IPRange || undefined,
      auxAddresses: pool4?.AuxiliaryAddresses ?? undefined,
      ipamOptions: body.IPAM?.Options ?? undefined,
      enableIPv6: body.EnableIPv6 ?? false,
      subnet6: pool6?.Subnet || undefined,
      gateway6: pool6?.Gateway || undefined,
      ipRange6: pool6?.IPRange || undefined,
      auxAddresses6: pool6?.AuxiliaryAddresses ?? undefined,
      internal: body.Internal ?? false,
      attachable: body.Attachable ?? false,
      ingress: body.Ingress ?? false,
      labels: body.Labels ?? {},
      options: body.Options ?? {},
    });
    return { Id: created.Id, Warning: '' };
  }

  remove(ref: string): Promise<void> {
    return this.bridge().manager.removeNetwork(ref);
  }

  /** `docker network prune`: unused user networks, with `label=key=value` filters. */
  async prune(filters: Map<string, string[]> = new Map()): Promise<{ NetworksDeleted: string[] }> {
    const labels: Record<string, string> = {};
    for (const l of filters.get('label') ?? []) {
      const i = l.indexOf('=');
      if (i < 0) throw invalidParameter(`label filter without value is not supported: ${l}`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    return { NetworksDeleted: await this.bridge().manager.pruneNetworks({ labels }) };
  }

  /** `docker network connect`: the endpoint now if running, at start otherwise; the record is saved. */
  async connect(network: string, request: NetworkConnectRequest): Promise<void> {
    const c = this.options.container(request.Container);
    const settings = await this.bridge().connect(c, network, endpointConfig(request.EndpointConfig));
    await this.options.saveNetworkSettings(c.Id, settings);
  }

  async disconnect(network: string, container: string): Promise<void> {
    const c = this.options.container(container);
    const settings = await this.bridge().disconnect(c, network);
    await this.options.saveNetworkSettings(c.Id, settings);
  }
}

function matchesNetworkFilters(n: NetworkInspect, filters: Map<string, string[]>): boolean {
  for (const [key, values] of filters) {
    const ok = values.some((v) => {
      switch (key) {
        case 'name':
          return n.Name.includes(v);
        case 'id':
          return n.Id.startsWith(v);
        case 'driver':
          return n.Driver === v;
        case 'scope':
          return n.Scope === v;
        case 'type':
          if (v !== 'custom' && v !== 'builtin') throw invalidParameter(`invalid filter: 'type'='${v}'`);
          return (v === 'builtin') === PREDEFINED.includes(n.Name);
        case 'dangling': {
          const dangling = !PREDEFINED.includes(n.Name) && Object.keys(n.Containers).length === 0;
          return ['true', '1'].includes(v) === dangling;
        }
        case 'label':
          return labelFilterMatches(n.Labels, v);
        default:
          throw invalidParameter(`invalid filter '${key}'`);
      }
    });
    if (!ok) return false;
  }
  return true;
}
