/** An IPv6 subnet; addresses are unsigned 128-bit bigints. */
export interface Ipv6Subnet {
  network: bigint;
  prefixLen: number;
}

const ALL = (1n << 128n) - 1n;

/** Parses an IPv6 address (RFC 4291 text forms, including `::` and a trailing dotted IPv4). */
export function parseIpv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.split('::').length > 2) return undefined;
  let groupsText = text;
  let tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const octets = (v4[2] as string).split('.').map(Number);
    if (octets.some((o) => o > 255)) return undefined;
    tail = [(octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!];
    groupsText = (v4[1] as string).endsWith('::') ? (v4[1] as string) : (v4[1] as string).slice(0, -1);
  }
  const [head = '', rest] = groupsText.split('::');
  const parse = (s: string): number[] | undefined => {
    if (s === '') return [];
    const parts = s.split(':');
    if (parts.some((p) => !/^[0-9a-fA-F]{1,4}$/.test(p))) return undefined;
    return parts.map((p) => Number.parseInt(p, 16));
  };
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  if (!left || !right) return undefined;
  const known = left.length + right.length + tail.length;
  let groups: number[];
  if (rest === undefined) {
    if (known !== 8) return undefined;
    groups = [...left, ...tail];
  } else {
    if (known > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - known).fill(0), ...right, ...tail];
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

export function isIpv6(text: string): boolean {
  return parseIpv6(text) !== undefined;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
export function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

function maskOf(prefixLen: number): bigint {
  return prefixLen === 0 ? 0n : (ALL << BigInt(128 - prefixLen)) & ALL;
}

/** Parses "addr/n"; the host bits are cleared, as Docker does for subnets. */
export function parseCidr6(text: string): Ipv6Subnet | undefined {
  const [address, prefix, extra] = text.split('/');
  if (address === undefined || prefix === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefix))
    return undefined;
  const prefixLen = Number(prefix);
  const ip = parseIpv6(address);
  if (ip === undefined || prefixLen > 128) return undefined;
  return { network: ip & maskOf(prefixLen), prefixLen };
}

export function formatCidr6(subnet: Ipv6Subnet): string {
  return `${formatIpv6(subnet.network)}/${subnet.prefixLen}`;
}

export function contains6(subnet: Ipv6Subnet, address: bigint): boolean {
  return (address & maskOf(subnet.prefixLen)) === subnet.network;
}

export function lastAddress6(subnet: Ipv6Subnet): bigint {
  return subnet.network | (~maskOf(subnet.prefixLen) & ALL);
}

export function subnetsOverlap6(a: Ipv6Subnet, b: Ipv6Subnet): boolean {
  return contains6(a, b.network) || contains6(b, a.network);
}
