import type { PortProtocol } from '@ts-container/common';
import type { Logger } from '@ts-container/common';
import { invalidParameter } from './errors.js';
import { hasCommand, run, tryRun } from './exec.js';

/** A bridge network as the firewall sees it. */
export interface FirewallNetwork {
  bridge: string;
  subnet: string;
  /** Internal networks get no traffic in or out of the bridge, except to the host itself. */
  internal: boolean;
}

/** A published port: traffic to hostIp:hostPort is DNATed to containerIp:containerPort. */
export interface FirewallPort {
  /** "0.0.0.0" for every local address; IPv6 host addresses are served by the userland proxy only. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  protocol: PortProtocol;
}

/** The complete desired rule set; every apply() replaces what was there (stale rules vanish). */
export interface FirewallRules {
  networks: readonly FirewallNetwork[];
  ports: readonly FirewallPort[];
  /**
   * With the userland proxy, loopback connections and connections from containers go to the
   * proxy (as with docker-proxy); without it, loopback is DNATed too (needs route_localnet).
   */
  userlandProxy: boolean;
}

/** The rule set for bridge-backed networks and the published ports (the whole of it, every time). */
export function firewallRules(
  bridgeNetworks: readonly { bridge?: string | undefined; subnet?: string | undefined; internal: boolean }[],
  ports: readonly FirewallPort[],
  userlandProxy: boolean,
): FirewallRules {
  return {
    networks: bridgeNetworks.map((n) => ({
      bridge: n.bridge as string,
      subnet: n.subnet as string,
      internal: n.internal,
    })),
    ports,
    userlandProxy,
  };
}

export type FirewallBackend = 'nft' | 'iptables';

export interface Firewall {
  readonly backend: FirewallBackend;
  apply(rules: FirewallRules): Promise<void>;
  /** Removes every rule and chain this firewall installed. */
  remove(): Promise<void>;
  /** Packets that matched the DNAT rule of hostPort/protocol since it was installed (for diagnostics). */
  dnatPacketCount(hostPort: number, protocol: PortProtocol): Promise<number>;
}

export async function createFirewall(
  table: string,
  backend: FirewallBackend | 'auto',
  logger?: Logger,
): Promise<Firewall> {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,19}$/.test(table)) {
    throw invalidParameter(`invalid firewall table name ${JSON.stringify(table)}`);
  }
  const chosen = backend === 'auto' ? ((await hasCommand('nft')) ? 'nft' : 'iptables') : backend;
  return chosen === 'nft' ? new NftFirewall(table, logger) : new IptablesFirewall(table, logger);
}

const q = (name: string) => JSON.stringify(name);
const isIpv4 = (ip: string) => /^\d+\.\d+\.\d+\.\d+$/.test(ip);

/** nftables: one `ip` family table owned entirely by us, replaced in one atomic transaction. */
export class NftFirewall implements Firewall {
  readonly backend = 'nft';

  constructor(
    readonly table: string,
    private readonly logger?: Logger,
  ) {}

  render(rules: FirewallRules): string {
    const bridges = rules.networks.map((n) => q(n.bridge));
    const lines: string[] = [];
    const chain = (name: string, hook: string | undefined, body: string[]) => {
      lines.push(`  chain ${name} {`);
      if (hook) lines.push(`    ${hook}`);
      for (const rule of body) lines.push(`    ${rule}`);
      lines.push('  }');
    };

    const fromContainers =
      rules.userlandProxy && bridges.length > 0 ? `iifname != { ${bridges.join(', ')} } ` : '';
    chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', [
      `${fromContainers}fib daddr type local jump publish`,
    ]);
    chain('output', 'type nat hook output priority -100; policy accept;', [
      rules.userlandProxy
        ? 'ip daddr != 127.0.0.0/8 fib daddr type local jump publish'
        : 'fib daddr type local jump publish',
    ]);
    chain(
      'publish',
      undefined,
      rules.ports
        .filter((p) => isIpv4(p.hostIp))
        .map((p) => {
          const daddr = p.hostIp === '0.0.0.0' ? '' : `ip daddr ${p.hostIp} `;
          return `${daddr}${p.protocol} dport ${p.hostPort} counter dnat to ${p.containerIp}:${p.containerPort}`;
        }),
    );
    const postrouting: string[] = [];
    for (const n of rules.networks) {
      // Outbound NAT (Docker: -s subnet ! -o bridge -j MASQUERADE); internal networks have no way out.
      if (!n.internal) postrouting.push(`ip saddr ${n.subnet} oifname != ${q(n.bridge)} masquerade`);
      if (!rules.userlandProxy) {
        postrouting.push(`ip saddr 127.0.0.0/8 oifname ${q(n.bridge)} masquerade`);
        postrouting.push(`iifname ${q(n.bridge)} oifname ${q(n.bridge)} ct status dnat masquerade`);
      }
    }
    chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', postrouting);
    const forward: string[] = [];
    for (const n of rules.networks) {
      const others = rules.networks.filter((o) => o.bridge !== n.bridge).map((o) => q(o.bridge));
      // Isolation between networks (Docker's DOCKER-ISOLATION chains).
      if (others.length > 0) forward.push(`iifname ${q(n.bridge)} oifname { ${others.join(', ')} } drop`);
      if (n.internal) {
        forward.push(`iifname ${q(n.bridge)} oifname != ${q(n.bridge)} drop`);
        forward.push(`oifname ${q(n.bridge)} iifname != ${q(n.bridge)} drop`);
      }
    }
    chain('forward', 'type filter hook forward priority filter; policy accept;', forward);
    return `table ip ${this.table} {\n${lines.join('\n')}\n}\n`;
  }

  async apply(rules: FirewallRules): Promise<void> {
    // Declaring, deleting and re-creating the table in one `nft -f` is a single kernel transaction.
    const script = `table ip ${this.table}\ndelete table ip ${this.table}\n${this.render(rules)}`;
    await run('nft', ['-f', '-'], { input: script, ...this.log() });
  }

  async remove(): Promise<void> {
    await tryRun('nft', ['delete', 'table', 'ip', this.table], this.log());
  }

  async dnatPacketCount(hostPort: number, protocol: PortProtocol): Promise<number> {
    const listing = await run('nft', ['list', 'chain', 'ip', this.table, 'publish'], this.log());
    let total = 0;
    for (const line of listing.split('\n')) {
      const match = new RegExp(`${protocol} dport ${hostPort} counter packets (\\d+)`).exec(line);
      if (match) total += Number(match[1]);
    }
    return total;
  }

  private log() {
    return this.logger ? { logger: this.logger } : {};
  }
}

/** Fallback for hosts without nft: our own chains in the nat and filter tables, jumped to from the built-ins. */
export class IptablesFirewall implements Firewall {
  readonly backend = 'iptables';
  private readonly prefix: string;

  constructor(
    table: string,
    private readonly logger?: Logger,
  ) {
    this.prefix = table.toUpperCase();
  }

  private chains() {
    const p = this.prefix;
    return {
      nat: [
        { name: `${p}-PRE`, from: 'PREROUTING' },
        { name: `${p}-OUT`, from: 'OUTPUT' },
        { name: `${p}-PUB`, from: undefined },
        { name: `${p}-POST`, from: 'POSTROUTING' },
      ],
      filter: [{ name: `${p}-FWD`, from: 'FORWARD' }],
    } as const;
  }

  render(rules: FirewallRules): string {
    const p = this.prefix;
    const c = this.chains();
    const nat: string[] = ['*nat', ...c.nat.map((ch) => `:${ch.name} - [0:0]`)];
    if (rules.userlandProxy) {
      for (const n of rules.networks) nat.push(`-A ${p}-PRE -i ${n.bridge} -j RETURN`);
    }
    nat.push(`-A ${p}-PRE -m addrtype --dst-type LOCAL -j ${p}-PUB`);
    nat.push(
      rules.userlandProxy
        ? `-A ${p}-OUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${p}-PUB`
        : `-A ${p}-OUT -m addrtype --dst-type LOCAL -j ${p}-PUB`,
    );
    for (const port of rules.ports.filter((x) => isIpv4(x.hostIp))) {
      const daddr = port.hostIp === '0.0.0.0' ? '' : ` -d ${port.hostIp}/32`;
      nat.push(
        `-A ${p}-PUB${daddr} -p ${port.protocol} -m ${port.protocol} --dport ${port.hostPort} -j DNAT --to-destination ${port.containerIp}:${port.containerPort}`,
      );
    }
    for (const n of rules.networks) {
      if (!n.internal) nat.push(`-A ${p}-POST -s ${n.subnet} ! -o ${n.bridge} -j MASQUERADE`);
      if (!rules.userlandProxy) {
        nat.push(`-A ${p}-POST -s 127.0.0.0/8 -o ${n.bridge} -j MASQUERADE`);
        nat.push(`-A ${p}-POST -i ${n.bridge} -o ${n.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`);
      }
    }
    nat.push('COMMIT');
    const filter: string[] = ['*filter', ...c.filter.map((ch) => `:${ch.name} - [0:0]`)];
    for (const n of rules.networks) {
      for (const o of rules.networks) {
        if (o.bridge !== n.bridge) filter.push(`-A ${p}-FWD -i ${n.bridge} -o ${o.bridge} -j DROP`);
      }
      if (n.internal) {
        filter.push(`-A ${p}-FWD -i ${n.bridge} ! -o ${n.bridge} -j DROP`);
        filter.push(`-A ${p}-FWD -o ${n.bridge} ! -i ${n.bridge} -j DROP`);
      }
    }
    filter.push('COMMIT');
    return `${[...nat, ...filter].join('\n')}\n`;
  }

  async apply(rules: FirewallRules): Promise<void> {
    // With --noflush, declaring our chains flushes only them; the host's rules are untouched.
    await run('iptables-restore', ['--noflush'], { input: this.render(rules), ...this.log() });
    const c = this.chains();
    for (const [table, chains] of [
      ['nat', c.nat],
      ['filter', c.filter],
    ] as const) {
      for (const ch of chains) {
        if (!ch.from) continue;
        const jump = [ch.from, '-j', ch.name];
        if (!(await tryRun('iptables', ['-w', '-t', table, '-C', ...jump]))) {
          await run('iptables', ['-w', '-t', table, '-I', ...jump], this.log());
        }
      }
    }
  }

  async remove(): Promise<void> {
    const c = this.chains();
    for (const [table, chains] of [
      ['nat', c.nat],
      ['filter', c.filter],
    ] as const) {
      for (const ch of chains) {
        if (ch.from) {
          while (await tryRun('iptables', ['-w', '-t', table, '-D', ch.from, '-j', ch.name])) {}
        }
      }
      for (const ch of chains) await tryRun('iptables', ['-w', '-t', table, '-F', ch.name]);
      for (const ch of chains) await tryRun('iptables', ['-w', '-t', table, '-X', ch.name]);
    }
  }

  async dnatPacketCount(hostPort: number, protocol: PortProtocol): Promise<number> {
    const listing = await run('iptables', ['-w', '-t', 'nat', '-L', `${this.prefix}-PUB`, '-v', '-n', '-x']);
    let total = 0;
    for (const line of listing.split('\n')) {
      if (line.includes(`${protocol} dpt:${hostPort} `)) total += Number(line.trim().split(/\s+/)[0]);
    }
    return total;
  }

  private log() {
    return this.logger ? { logger: this.logger } : {};
  }
}
