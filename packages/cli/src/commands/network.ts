import { ApiError, type NetworkResponse } from '@ts-container/api';
import { type Command, type CommandContext, CommandError, write } from '../context.js';
import { formatList } from '../format.js';
import { confirm, filtersMap } from '../prompt.js';
import { inspectEach } from './containers.js';

/** One row of `docker network ls`; the getters are what `--format` templates see. */
class NetworkRow {
  constructor(
    private readonly n: NetworkResponse,
    private readonly noTrunc: boolean,
  ) {}
  get ID() {
    return this.noTrunc ? this.n.Id : this.n.Id.slice(0, 12);
  }
  get Name() {
    return this.n.Name;
  }
  get Driver() {
    return this.n.Driver;
  }
  get Scope() {
    return this.n.Scope;
  }
  get IPv6() {
    return String(this.n.EnableIPv6);
  }
  get Internal() {
    return String(this.n.Internal);
  }
  get CreatedAt() {
    return new Date(this.n.Created as string)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' +0000 UTC');
  }
  get Labels() {
    return Object.entries(this.n.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }
  Label(name: string) {
    return this.n.Labels?.[name] ?? '';
  }
}

/** `key=value` list flags (--label, --opt) into an object. */
function keyValues(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    out[i < 0 ? item : item.slice(0, i)] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

export const networkCreateCommand: Command = {
  name: 'network create',
  usage: 'network create [OPTIONS] NETWORK',
  description: 'Create a network',
  flags: [
    {
      name: 'driver',
      short: 'd',
      type: 'string',
      description: 'Driver to manage the Network',
      default: 'bridge',
    },
    { name: 'subnet', type: 'list', description: 'Subnet in CIDR format that represents a network segment' },
    { name: 'gateway', type: 'list', description: 'IPv4 or IPv6 Gateway for the master subnet' },
    { name: 'ip-range', type: 'list', description: 'Allocate container ip from a sub-range' },
    { name: 'internal', type: 'bool', description: 'Restrict external access to the network' },
    { name: 'attachable', type: 'bool', description: 'Enable manual container attachment' },
    { name: 'ipv6', type: 'bool', description: 'Enable or disable IPv6 networking' },
    { name: 'label', type: 'list', description: 'Set metadata on a network' },
    { name: 'opt', short: 'o', type: 'list', description: 'Set driver specific options' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const subnets = flags.subnet as string[];
    const gateways = flags.gateway as string[];
    const ranges = flags['ip-range'] as string[];
    // docker CLI: gateways and ranges belong to the subnet they lie in; one subnet here.
    if (gateways.length > subnets.length || ranges.length > subnets.length)
      throw new CommandError('every ip-range or gateway must have a corresponding subnet');
    const config = subnets.map((Subnet, i) => ({
      Subnet,
      ...(gateways[i] ? { Gateway: gateways[i] } : {}),
      ...(ranges[i] ? { IPRange: ranges[i] } : {}),
    }));
    const created = await ctx.client.networkCreate({
      Name: args[0]!,
      Driver: flags.driver as string,
      Internal: flags.internal === true,
      Attachable: flags.attachable === true,
      EnableIPv6: flags.ipv6 === true,
      IPAM: { Driver: 'default', Config: config, Options: {} },
      Options: keyValues(flags.opt as string[]),
      Labels: keyValues(flags.label as string[]),
    });
    write(ctx.io.stdout, created.Id);
    return 0;
  },
};

export const networkLsCommand: Command = {
  name: 'network ls',
  aliases: ['network list'],
  usage: 'network ls [OPTIONS]',
  description: 'List networks',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display network IDs' },
    { name: 'filter', short: 'f', type: 'list', description: 'Provide filter values (e.g. "driver=bridge")' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'no-trunc', type: 'bool', description: 'Do not truncate the output' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const list = await ctx.client.networkList(filtersMap(flags.filter as string[]));
    list.sort((a, b) => a.Name.localeCompare(b.Name));
    const rows = list.map((n) => new NetworkRow(n, flags['no-trunc'] === true));
    const format = flags.quiet === true ? '{{.ID}}' : (flags.format as string | undefined);
    ctx.io.stdout.write(
      formatList(rows, format, '{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', {
        ID: 'NETWORK ID',
        CreatedAt: 'CREATED AT',
        IPv6: 'IPV6',
      }),
    );
    return 0;
  },
};

export const networkInspectCommand: Command = {
  name: 'network inspect',
  usage: 'network inspect [OPTIONS] NETWORK [NETWORK...]',
  description: 'Display detailed information on one or more networks',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', type: 'bool', description: 'Verbose output for diagnostics' },
  ],
  minArgs: 1,
  run(ctx, args, flags) {
    return inspectEach(ctx, args, (n) => ctx.client.networkInspect(n), flags.format as string | undefined);
  },
};

export const networkRmCommand: Command = {
  name: 'network rm',
  aliases: ['network remove'],
  usage: 'network rm NETWORK [NETWORK...]',
  description: 'Remove one or more networks',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Do not error if the network does not exist' },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    let code = 0;
    for (const name of args) {
      try {
        await ctx.client.request('DELETE', `/networks/${encodeURIComponent(name)}`);
        write(ctx.io.stdout, name);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (flags.force === true && err.statusCode === 404) continue;
        write(ctx.io.stderr, `Error response from daemon: ${err.message}`);
        code = 1;
      }
    }
    return code;
  },
};

export const networkPruneCommand: Command = {
  name: 'network prune',
  usage: 'network prune [OPTIONS]',
  description: 'Remove all unused networks',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    if (
      flags.force !== true &&
      !(await confirm(
        ctx,
        'WARNING! This will remove all custom networks not used by at least one container.',
      ))
    )
      return 0;
    const result = await ctx.client.networkPrune(filtersMap(flags.filter as string[]));
    const deleted = result.NetworksDeleted ?? [];
    if (deleted.length > 0) write(ctx.io.stdout, `Deleted Networks:\n${deleted.join('\n')}\n`);
    return 0;
  },
};

export const networkConnectCommand: Command = {
  name: 'network connect',
  usage: 'network connect [OPTIONS] NETWORK CONTAINER',
  description: 'Connect a container to a network',
  flags: [
    { name: 'ip', type: 'string', description: 'IPv4 address (e.g., "172.30.100.104")' },
    { name: 'alias', type: 'list', description: 'Add network-scoped alias for the container' },
    { name: 'link', type: 'list', description: 'Add link to another container', hidden: true },
  ],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, args, flags) {
    const ip = flags.ip as string | undefined;
    const aliases = flags.alias as string[];
    await ctx.client.networkConnect(args[0]!, {
      Container: args[1]!,
      EndpointConfig: {
        ...(ip ? { IPAMConfig: { IPv4Address: ip } } : {}),
        ...(aliases.length > 0 ? { Aliases: aliases } : {}),
      },
    });
    return 0;
  },
};

export const networkDisconnectCommand: Command = {
  name: 'network disconnect',
  usage: 'network disconnect [OPTIONS] NETWORK CONTAINER',
  description: 'Disconnect a container from a network',
  flags: [
    {
      name: 'force',
      short: 'f',
      type: 'bool',
      description: 'Force the container to disconnect from a network',
    },
  ],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, args, flags) {
    await ctx.client.networkDisconnect(args[0]!, args[1]!, flags.force === true);
    return 0;
  },
};

type PortMap = Record<string, { HostIp: string; HostPort: string }[] | null>;

export const portCommand: Command = {
  name: 'port',
  aliases: ['container port'],
  usage: 'port CONTAINER [PRIVATE_PORT[/PROTO]]',
  description: 'List port mappings or a specific mapping for the container',
  flags: [],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, args) {
    const name = args[0]!;
    const c = await ctx.client.containerInspect(name);
    const settings = c.NetworkSettings as { Ports?: PortMap | null } | undefined;
    const ports = settings?.Ports ?? {};
    const hostAddress = (b: { HostIp: string; HostPort: string }) =>
      `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp || '0.0.0.0'}:${b.HostPort}`;
    if (args[1] !== undefined) {
      const [port = '', proto = 'tcp'] = args[1].split('/');
      if (!/^\d+$/.test(port)) throw new CommandError(`Error: invalid port (${port}): must be a number`);
      const key = `${port}/${proto}`;
      const bindings = ports[key];
      if (!bindings || bindings.length === 0)
        throw new CommandError(`Error: No public port '${key}' published for ${name}`);
      for (const b of bindings) write(ctx.io.stdout, hostAddress(b));
      return 0;
    }
    const keys = Object.keys(ports).sort((a, b) => {
      const [pa = '', ta = ''] = a.split('/');
      const [pb = '', tb = ''] = b.split('/');
      return Number(pa) - Number(pb) || ta.localeCompare(tb);
    });
    for (const key of keys)
      for (const b of ports[key] ?? []) write(ctx.io.stdout, `${key} -> ${hostAddress(b)}`);
    return 0;
  },
};

export const NETWORK_COMMANDS: Command[] = [
  networkCreateCommand,
  networkLsCommand,
  networkInspectCommand,
  networkRmCommand,
  networkPruneCommand,
  networkConnectCommand,
  networkDisconnectCommand,
  portCommand,
];
