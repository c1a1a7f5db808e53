import { writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Logger } from '@ts-container/common';
import { run, tryRun } from './exec.js';
import { type Ipv4Subnet, parseCidr } from './ipv4.js';

type Log = { logger?: Logger };

export async function linkExists(name: string): Promise<boolean> {
  return tryRun('ip', ['link', 'show', 'dev', name]);
}

/** Creates (or repairs) a Linux bridge with the gateway address, up. */
export async function ensureBridge(name: string, gatewayCidr: string, log: Log = {}): Promise<void> {
  if (!(await linkExists(name))) {
    await run('ip', ['link', 'add', 'name', name, 'type', 'bridge'], log);
  }
  await run('ip', ['addr', 'replace', gatewayCidr, 'dev', name], log);
  await run('ip', ['link', 'set', name, 'up'], log);
}

export async function deleteLink(name: string, log: Log = {}): Promise<void> {
  // Best effort, and a link already gone is fine: no `ip link show` first (one process fewer
  // on every container stop).
  await tryRun('ip', ['link', 'del', 'dev', name], log);
}

/** Interfaces enslaved to a bridge (its veth ports). */
export async function bridgePorts(bridge: string): Promise<string[]> {
  if (!(await linkExists(bridge))) return [];
  const links = JSON.parse((await run('ip', ['-j', 'link', 'show', 'master', bridge])) || '[]') as {
    ifname: string;
  }[];
  return links.map((l) => l.ifname);
}

/** Every IPv4 route and local address of the host, to keep new subnets clear of them. */
export async function hostIpv4Subnets(): Promise<Ipv4Subnet[]> {
  const routes = JSON.parse((await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) || '[]') as {
    dst: string;
  }[];
  const subnets: Ipv4Subnet[] = [];
  for (const { dst } of routes) {
    if (!dst || dst === 'default') continue;
    const subnet = parseCidr(dst.includes('/') ? dst : `${dst}/32`);
    if (subnet) subnets.push(subnet);
  }
  return subnets;
}

/**
 * The first IPv4 address on device `name` as "a.b.c.d/n" (undefined when it has none or does not
 * exist): an existing default bridge keeps its address, as dockerd keeps docker0's.
 */
export async function linkIpv4Address(name: string): Promise<string | undefined> {
  const links = JSON.parse((await run('ip', ['-j', '-4', 'addr', 'show'])) || '[]') as {
    ifname: string;
    addr_info?: { local?: string; prefixlen?: number }[];
  }[];
  const first = links.find((l) => l.ifname === name)?.addr_info?.find((a) => a.local && a.prefixlen);
  return first ? `${first.local}/${first.prefixlen}` : undefined;
}

export interface VethOptions {
  hostName: string;
  bridge: string;
  netnsPath: string;
  interfaceName: string;
  macAddress: string;
  ipCidr: string;
  /** Default route; omitted for internal networks, which get no route out. */
  gateway?: string;
  /** The endpoint's address on an IPv6 network, and that network's gateway (none when internal). */
  ipv6Cidr?: string;
  gateway6?: string;
  /** `--link-local-ip` addresses, each a host address (libnetwork adds them as /32 or /128). */
  linkLocalIps?: string[];
  /** The namespace has no default route yet (it holds only `lo`): no need to look. */
  onlyLoopback?: boolean;
}

/** Creates a veth pair: the host end on the bridge, the other end configured inside the namespace. */
export async function createVeth(options: VethOptions, log: Log = {}): Promise<void> {
  // The peer is created directly inside the namespace, so its name cannot clash with host
  // interfaces; the host end is born up and on the bridge (one process instead of three).
  await run(
    'ip',
    [
      'link',
      'add',
      options.hostName,
      'master',
      options.bridge,
      'up',
      'type',
      'veth',
      'peer',
      'name',
      options.interfaceName,
      'address',
      options.macAddress,
      'netns',
      options.netnsPath,
    ],
    log,
  );
  try {
    const batch = [
      `addr add ${options.ipCidr} dev ${options.interfaceName}`,
      `link set ${options.interfaceName} up`,
      // A second network's interface must not steal the default route of the first.
      ...(options.gateway
        ? [`route replace default via ${options.gateway} dev ${options.interfaceName}`]
        : []),
    ];
    if (options.gateway && !options.onlyLoopback && (await hasDefaultRoute(options.netnsPath))) batch.pop();
    // nodad: the address is ours by IPAM; duplicate address detection would only delay it.
    if (options.ipv6Cidr) batch.push(`addr add ${options.ipv6Cidr} dev ${options.interfaceName} nodad`);
    for (const ip of options.linkLocalIps ?? [])
      batch.push(
        `addr add ${ip}/${isIP(ip) === 6 ? '128' : '32'} dev ${options.interfaceName}${isIP(ip) === 6 ? ' nodad' : ''}`,
      );
    if (options.gateway6 && (options.onlyLoopback || !(await hasDefaultRoute(options.netnsPath, '-6'))))
      batch.push(`route replace ::/0 via ${options.gateway6} dev ${options.interfaceName}`);
    await run('nsenter', [`--net=${options.netnsPath}`, 'ip', '-batch', '-'], {
      ...log,
      input: `${batch.join('\n')}\n`,
    });
  } catch (err) {
    await deleteLink(options.hostName, log);
    throw err;
  }
}

async function hasDefaultRoute(netnsPath: string, family: '-4' | '-6' = '-4'): Promise<boolean> {
  const out = await run('nsenter', [`--net=${netnsPath}`, 'ip', family, 'route', 'show', 'default']);
  return out.trim() !== '';
}

/** The first ethN name not yet used inside the namespace (eth0, then eth1 for a second network...). */
export async function nextInterfaceName(netnsPath: string): Promise<string> {
  const links = JSON.parse(
    (await run('nsenter', [`--net=${netnsPath}`, 'ip', '-j', 'link', 'show'])) || '[]',
  ) as {
    ifname: string;
  }[];
  const used = new Set(links.map((l) => l.ifname));
  for (let i = 0; ; i++) {
    if (!used.has(`eth${i}`)) return `eth${i}`;
  }
}

/** Writes a sysctl through /proc/sys (no dependency on the sysctl binary). */
export async function writeSysctl(key: string, value: string, log: Log = {}): Promise<void> {
  log.logger?.debug('sysctl', { key, value });
  await writeFile(`/proc/sys/${key.replaceAll('.', '/')}`, value);
}
