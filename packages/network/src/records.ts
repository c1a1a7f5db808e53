import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { conflict, forbidden, invalidParameter, notFound } from './errors.js';
import type { Ipv4Pool, Ipv6Pool } from './ipam.js';
import { formatCidr, isMacAddress, macFromIpv4 } from './ipv4.js';
import { formatCidr6 } from './ipv6.js';
import type { EndpointRecord, NetworkRecord } from './state.js';
import type { ConnectOptions, CreateNetworkOptions, DefaultBridgeConfig } from './types.js';

// The records the manager keeps (networks and endpoints): Docker's rules for what may be created
// and connected, with Docker's error texts, and how a new record looks. Pure: no kernel, no I/O.

export const PREDEFINED = ['bridge', 'host', 'none'] as const;
export const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
/** Linux's IFNAMSIZ minus the terminating NUL. */
export const MAX_IFNAME = 15;

export const newId = () => randomBytes(32).toString('hex');

export function trimName(name: string): string {
  return name.replace(/^\//, '');
}

export const isPredefined = (network: NetworkRecord) =>
  (PREDEFINED as readonly string[]).includes(network.name);

/** Networks backed by a Linux bridge: bridge networks and (single-node) overlay networks. */
export function bridgeNetworks(networks: readonly NetworkRecord[]): NetworkRecord[] {
  return networks.filter((n) => n.driver === 'bridge' || n.driver === 'overlay');
}

/** By full name, full id or unique id prefix; throws `network X not found` like Docker. */
export function lookupNetwork(networks: readonly NetworkRecord[], idOrName: string): NetworkRecord {
  const byName = networks.find((n) => n.name === idOrName || n.id === idOrName);
  if (byName) return byName;
  const byPrefix = idOrName === '' ? [] : networks.filter((n) => n.id.startsWith(idOrName));
  if (byPrefix.length === 1 && byPrefix[0]) return byPrefix[0];
  if (byPrefix.length > 1) {
    throw invalidParameter(
      `network ${idOrName} is ambiguous (${byPrefix.length} matches found based on ID prefix)`,
    );
  }
  throw notFound(`network ${idOrName} not found`);
}

/** What a new network will be, once its options passed Docker's checks (its addresses come next). */
export interface NewNetwork {
  id: string;
  driver: 'bridge' | 'overlay';
  bridge: string;
}

/** Docker's checks of `network create` that need no address planning. */
export function checkNewNetwork(
  options: CreateNetworkOptions,
  networks: readonly NetworkRecord[],
): NewNetwork {
  const driver = options.driver ?? 'bridge';
  if (driver === 'host' || driver === 'null') {
    throw forbidden(`only one instance of "${driver}" network is allowed`);
  }
  if (driver !== 'bridge' && driver !== 'overlay') throw notFound(`plugin "${driver}" not found`);
  if (options.ingress && driver !== 'overlay')
    throw invalidParameter('only an overlay network can be the ingress network');
  // swarmkit's text (AlreadyExists).
  if (options.ingress && networks.some((n) => n.ingress)) throw conflict('ingress network already present');
  // moby puts no pattern on network names ("test 01" is fine); only an empty one is refused.
  if (options.name === '') throw invalidParameter('network name is required');
  if (networks.some((n) => n.name === options.name)) {
    throw conflict(`network with name ${options.name} already exists`);
  }
  const id = newId();
  const bridge = options.options?.[BRIDGE_NAME_OPTION] ?? `br-${id.slice(0, 12)}`;
  if (bridge.length > MAX_IFNAME || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) {
    throw invalidParameter(`invalid bridge name ${bridge}`);
  }
  if (networks.some((n) => n.bridge === bridge)) {
    throw conflict(`bridge name ${bridge} is already used by another network`);
  }
  return { id, driver, bridge };
}

/** The record of a user-defined network. */
export function networkRecord(
  options: CreateNetworkOptions,
  planned: NewNetwork,
  pool: Ipv4Pool,
  pool6: Ipv6Pool | undefined,
): NetworkRecord {
  const overlay = planned.driver === 'overlay';
  return {
    id: planned.id,
    name: options.name,
    driver: planned.driver,
    ...(overlay ? { scope: 'swarm' as const } : {}),
    ...(options.attachable ? { attachable: true } : {}),
    ...(options.ingress ? { ingress: true } : {}),
    created: new Date().toISOString(),
    bridge: planned.bridge,
    subnet: formatCidr(pool.subnet),
    gateway: pool.gateway,
    ...(pool.ipRange ? { ipRange: formatCidr(pool.ipRange) } : {}),
    internal: options.internal ?? false,
    userSubnet: options.subnet !== undefined,
    labels: { ...options.labels },
    options: { ...options.options },
    ...(options.auxAddresses ? { auxAddresses: { ...options.auxAddresses } } : {}),
    ...(options.ipamOptions ? { ipamOptions: { ...options.ipamOptions } } : {}),
    ...(pool6
      ? {
          enableIPv6: true,
          subnet6: formatCidr6(pool6.subnet),
          gateway6: pool6.gateway,
          ...(pool6.ipRange ? { ipRange6: formatCidr6(pool6.ipRange) } : {}),
          ...(options.auxAddresses6 ? { auxAddresses6: { ...options.auxAddresses6 } } : {}),
        }
      : {}),
  };
}

/**
 * Whether Docker's `bridge` network must be (re)made: it is missing, or has no endpoints and its
 * configured subnet or bridge device changed.
 */
export function defaultBridgeOutdated(
  existing: NetworkRecord | undefined,
  config: DefaultBridgeConfig,
  endpoints: readonly EndpointRecord[],
): boolean {
  const hasEndpoints = existing && endpoints.some((e) => e.networkId === existing.id);
  return !existing || (!hasEndpoints && (Boolean(config.subnet) || existing.bridge !== config.name));
}

/** Docker's `bridge` network on the configured device (docker0 in Docker), keeping an earlier one's id. */
export function defaultBridgeRecord(
  existing: NetworkRecord | undefined,
  config: DefaultBridgeConfig,
  pool: Ipv4Pool,
): NetworkRecord {
  return {
    id: existing?.id ?? newId(),
    name: 'bridge',
    driver: 'bridge',
    created: existing?.created ?? new Date().toISOString(),
    bridge: config.name,
    subnet: formatCidr(pool.subnet),
    gateway: pool.gateway,
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
}

/** The `host` and `none` networks that `networks` still lacks. */
export function missingHostAndNone(networks: readonly NetworkRecord[]): NetworkRecord[] {
  const out: NetworkRecord[] = [];
  for (const [name, driver] of [
    ['host', 'host'],
    ['none', 'null'],
  ] as const) {
    if (networks.some((n) => n.name === name)) continue;
    out.push({
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
  return out;
}

/** Docker's checks of `network connect` that come before any address is leased. */
export function checkConnect(
  network: NetworkRecord,
  options: ConnectOptions,
  endpoints: readonly EndpointRecord[],
): void {
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
  if (endpoints.some((e) => e.networkId === network.id && e.containerId === options.containerId)) {
    throw conflict(
      `endpoint with name ${trimName(options.containerName)} already exists in network ${network.name}`,
    );
  }
  if (network.name === 'bridge' && options.aliases?.length) {
    throw invalidParameter('network-scoped alias is supported only for containers in user defined networks');
  }
}

/** `--link-local-ip` and `--mac-address` values. */
export function checkEndpointOptions(options: ConnectOptions): void {
  for (const ip of options.linkLocalIps ?? [])
    if (isIP(ip) === 0) throw invalidParameter(`invalid link-local IP address: ${ip}`);
  if (options.macAddress !== undefined && !isMacAddress(options.macAddress)) {
    throw invalidParameter(`invalid MAC address: ${options.macAddress}`);
  }
}

/** The host end of an endpoint's veth pair: `veth` and 7 hex digits derived from the endpoint id. */
export function hostVethName(endpointId: string): string {
  return `veth${createHash('sha256').update(endpointId).digest('hex').slice(0, 7)}`;
}

/** A new endpoint's record (its lease); the addresses come from IPAM. */
export function endpointRecord(
  options: ConnectOptions,
  network: NetworkRecord,
  address: { id: string; interfaceName: string; ipAddress: string; prefixLen: number },
  v6: { ipv6Address: string; prefixLen6: number } | undefined,
): EndpointRecord {
  return {
    id: address.id,
    networkId: network.id,
    containerId: options.containerId,
    containerName: trimName(options.containerName),
    netnsPath: options.netnsPath,
    hostVeth: hostVethName(address.id),
    interfaceName: address.interfaceName,
    ipAddress: address.ipAddress,
    prefixLen: address.prefixLen,
    macAddress: (options.macAddress ?? macFromIpv4(address.ipAddress)).toLowerCase(),
    aliases: [...(options.aliases ?? [])],
    dnsServers: [...(options.dnsServers ?? [])],
    ...(v6 ? v6 : {}),
    ...(options.links?.length ? { links: [...options.links] } : {}),
  };
}
