import { NetworkError, conflict, forbidden, invalidParameter } from './errors.js';
import {
  type Ipv4Subnet,
  containsAddress,
  formatIpv4,
  lastAddress,
  mustParseCidr,
  parseCidr,
  parseIpv4,
  subnetsOverlap,
} from './ipv4.js';
import {
  type Ipv6Subnet,
  contains6,
  formatIpv6,
  lastAddress6,
  parseCidr6,
  parseIpv6,
  subnetsOverlap6,
} from './ipv6.js';
import type { NetworkRecord } from './state.js';

// IP address management, as libnetwork's default IPAM driver: pools for networks (a user's
// subnet, checked, or the first free default one) and addresses for endpoints within them.
// Pure: the caller passes what is taken and keeps the leases (the endpoints) itself.

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

/** What a network asks for: `--subnet`, `--gateway`, `--ip-range` (all optional). */
export interface PoolRequest {
  subnet?: string | undefined;
  gateway?: string | undefined;
  ipRange?: string | undefined;
}

export interface Ipv4Pool {
  subnet: Ipv4Subnet;
  gateway: string;
  ipRange?: Ipv4Subnet;
}

export interface Ipv6PoolRequest {
  subnet6?: string | undefined;
  gateway6?: string | undefined;
  ipRange6?: string | undefined;
}

export interface Ipv6Pool {
  subnet: Ipv6Subnet;
  gateway: string;
  ipRange?: Ipv6Subnet;
}

/** The IPv4 subnets of `networks`, except those of the networks in `ignoreIds`. */
export function takenSubnets(
  networks: readonly Pick<NetworkRecord, 'id' | 'subnet'>[],
  ignoreIds: readonly string[] = [],
): Ipv4Subnet[] {
  return networks
    .filter((n) => n.subnet && !ignoreIds.includes(n.id))
    .map((n) => mustParseCidr(n.subnet as string));
}

/** The IPv6 subnets of `networks`. */
export function takenSubnets6(networks: readonly Pick<NetworkRecord, 'subnet6'>[]): Ipv6Subnet[] {
  return networks.flatMap((n) => {
    const subnet = n.subnet6 ? parseCidr6(n.subnet6) : undefined;
    return subnet ? [subnet] : [];
  });
}

/**
 * Validates the requested subnet/gateway/ip-range, or picks the first pool that overlaps neither a
 * taken subnet nor a host route (looked up only when picking).
 */
export async function planPool(
  request: PoolRequest,
  taken: readonly Ipv4Subnet[],
  pools: readonly Ipv4Subnet[],
  hostRoutes: () => Promise<readonly Ipv4Subnet[]>,
): Promise<Ipv4Pool> {
  let subnet: Ipv4Subnet;
  if (request.subnet !== undefined) {
    const parsed = parseCidr(request.subnet);
    if (!parsed)
      throw invalidParameter(`invalid subnet ${request.subnet}: invalid CIDR address: ${request.subnet}`);
    if (parsed.prefixLen > 30) throw invalidParameter(`subnet ${request.subnet} is too small`);
    if (taken.some((t) => subnetsOverlap(t, parsed))) {
      throw forbidden('Pool overlaps with other one on this address space');
    }
    subnet = parsed;
  } else {
    if (request.gateway !== undefined || request.ipRange !== undefined) {
      throw invalidParameter('gateway and ip-range can only be given together with a subnet');
    }
    const routes = await hostRoutes();
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
  if (request.gateway !== undefined) {
    const gw = parseIpv4(request.gateway);
    if (gw === undefined || !containsAddress(subnet, gw)) {
      throw invalidParameter(`no matching subnet for gateway ${request.gateway}`);
    }
    gateway = request.gateway;
  }
  let ipRange: Ipv4Subnet | undefined;
  if (request.ipRange !== undefined) {
    ipRange = parseCidr(request.ipRange);
    if (
      !ipRange ||
      !containsAddress(subnet, ipRange.network) ||
      !containsAddress(subnet, lastAddress(ipRange))
    ) {
      throw invalidParameter(`no matching subnet for range ${request.ipRange}`);
    }
  }
  return { subnet, gateway, ...(ipRange ? { ipRange } : {}) };
}

/** Validates the IPv6 pool of an EnableIPv6 network: Docker has no default IPv6 pools to pick from. */
export function planPool6(request: Ipv6PoolRequest, taken: readonly Ipv6Subnet[]): Ipv6Pool {
  if (request.subnet6 === undefined)
    throw forbidden(
      'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network',
    );
  const subnet = parseCidr6(request.subnet6);
  if (!subnet)
    throw invalidParameter(`invalid subnet ${request.subnet6}: invalid CIDR address: ${request.subnet6}`);
  if (subnet.prefixLen > 126) throw invalidParameter(`subnet ${request.subnet6} is too small`);
  if (taken.some((other) => subnetsOverlap6(other, subnet)))
    throw forbidden('Pool overlaps with other one on this address space');
  let gateway = subnet.network + 1n;
  if (request.gateway6 !== undefined) {
    const gw = parseIpv6(request.gateway6);
    if (gw === undefined || !contains6(subnet, gw))
      throw invalidParameter(`no matching subnet for gateway ${request.gateway6}`);
    gateway = gw;
  }
  let ipRange: Ipv6Subnet | undefined;
  if (request.ipRange6 !== undefined) {
    ipRange = parseCidr6(request.ipRange6);
    if (!ipRange || !contains6(subnet, ipRange.network) || !contains6(subnet, lastAddress6(ipRange)))
      throw invalidParameter(`no matching subnet for range ${request.ipRange6}`);
  }
  return { subnet, gateway: formatIpv6(gateway), ...(ipRange ? { ipRange } : {}) };
}

/** The parts of a network its address allocation looks at. */
export type AddressPool = Pick<
  NetworkRecord,
  | 'id'
  | 'name'
  | 'gateway'
  | 'ipRange'
  | 'userSubnet'
  | 'auxAddresses'
  | 'subnet6'
  | 'gateway6'
  | 'ipRange6'
  | 'auxAddresses6'
>;

/**
 * An endpoint's IPv4 address: the requested one (`--ip`, only on a user-chosen subnet, as in
 * Docker) or the lowest free one of the ip-range. `leased` are the addresses the network's
 * endpoints hold; the gateway and auxiliary addresses are never handed out.
 */
export function allocateIpv4(
  network: AddressPool,
  subnet: Ipv4Subnet,
  leased: readonly string[],
  requested: string | undefined,
): string {
  const used = new Set(leased);
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

/**
 * An endpoint's IPv6 address on an IPv6 network (undefined elsewhere); Docker's rules as for IPv4.
 * `leased` are the IPv6 addresses the network's endpoints hold.
 */
export function allocateIpv6(
  network: AddressPool,
  leased: readonly string[],
  requested: string | undefined,
): string | undefined {
  const subnet = network.subnet6 ? parseCidr6(network.subnet6) : undefined;
  if (!subnet) {
    if (requested !== undefined)
      throw invalidParameter(
        'user specified IP address is supported only when connecting to networks with user configured subnets',
      );
    return undefined;
  }
  const used = new Set<bigint>();
  for (const address of leased) used.add(parseIpv6(address) as bigint);
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
