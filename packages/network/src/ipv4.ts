import { invalidParameter } from './errors.js';

/** An IPv4 subnet in integer form; addresses are unsigned 32-bit numbers. */
export interface Ipv4Subnet {
  network: number;
  prefixLen: number;
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** Parses "a.b.c.d/n"; like Docker, the host bits are cleared ("172.20.0.5/16" → 172.20.0.0/16). */
export function parseCidr(text: string): Ipv4Subnet | undefined {
  const [address, prefix, extra] = text.split('/');
  if (address === undefined || prefix === undefined || extra !== undefined || !/^\d{1,2}$/.test(prefix)) {
    return undefined;
  }
  const ip = parseIpv4(address);
  const prefixLen = Number(prefix);
  if (ip === undefined || prefixLen > 32) return undefined;
  return { network: (ip & maskOf(prefixLen)) >>> 0, prefixLen };
}

export function mustParseCidr(text: string): Ipv4Subnet {
  const subnet = parseCidr(text);
  if (!subnet) throw invalidParameter(`invalid CIDR address: ${text}`);
  return subnet;
}

export function formatCidr(subnet: Ipv4Subnet): string {
  return `${formatIpv4(subnet.network)}/${subnet.prefixLen}`;
}

export function subnetSize(subnet: Ipv4Subnet): number {
  return 2 ** (32 - subnet.prefixLen);
}

export function lastAddress(subnet: Ipv4Subnet): number {
  return subnet.network + subnetSize(subnet) - 1;
}

export function containsAddress(subnet: Ipv4Subnet, address: number): boolean {
  return address >= subnet.network && address <= lastAddress(subnet);
}

export function subnetsOverlap(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  return a.network <= lastAddress(b) && b.network <= lastAddress(a);
}

/** Docker derives a container's MAC from its IPv4 address: 02:42 followed by the four octets. */
export function macFromIpv4(address: string): string {
  const ip = parseIpv4(address);
  if (ip === undefined) throw invalidParameter(`invalid IP address: ${address}`);
  const octets = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

export function isMacAddress(text: string): boolean {
  return /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(text);
}
