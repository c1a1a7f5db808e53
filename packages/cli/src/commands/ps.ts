import type { ContainerSummaryResponse } from '@ts-container/api';
import { type Command, CommandError, write } from '../context.js';
import { formatList, humanSize, timeAgo } from '../format.js';

/** What `ps --format` templates see (Docker's container context fields). */
class ContainerRow {
  constructor(
    private readonly c: ContainerSummaryResponse,
    private readonly noTrunc: boolean,
  ) {}
  get ID() {
    return this.noTrunc ? this.c.Id : this.c.Id.slice(0, 12);
  }
  get Image() {
    return this.c.Image;
  }
  get Command() {
    const cmd = this.c.Command;
    // Go's strconv.Quote of the (shortened) command line, as the docker CLI prints it.
    return JSON.stringify(this.noTrunc || [...cmd].length <= 20 ? cmd : `${[...cmd].slice(0, 19).join('')}…`);
  }
  get CreatedAt() {
    return new Date(this.c.Created * 1000)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' +0000 UTC');
  }
  get RunningFor() {
    return timeAgo(this.c.Created);
  }
  get Ports() {
    return (this.c.Ports ?? [])
      .map((p) =>
        p.PublicPort
          ? `${p.IP ?? '0.0.0.0'}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`
          : `${p.PrivatePort}/${p.Type}`,
      )
      .join(', ');
  }
  get State() {
    return this.c.State;
  }
  get Status() {
    return this.c.Status;
  }
  get Size() {
    return this.c.SizeRw === undefined
      ? '0B'
      : `${humanSize(this.c.SizeRw)} (virtual ${humanSize(this.c.SizeRootFs ?? 0)})`;
  }
  get Names() {
    return this.c.Names.map((n) => n.slice(1)).join(',');
  }
  get Labels() {
    return Object.entries(this.c.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
  }
  Label(name: string) {
    return this.c.Labels?.[name] ?? '';
  }
  get Mounts() {
    return '';
  }
  get Networks() {
    return Object.keys(this.c.NetworkSettings?.Networks ?? {}).join(',');
  }
  get LocalVolumes() {
    return '0';
  }
}

function parseFilters(values: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of values) {
    const i = f.indexOf('=');
    if (i < 0) throw new CommandError('bad format of filter (expected name=value)', 1);
    (out[f.slice(0, i)] ??= []).push(f.slice(i + 1));
  }
  return out;
}

export const psCommand: Command = {
  name: 'ps',
  aliases: ['container ls', 'container list', 'container ps'],
  usage: 'ps [OPTIONS]',
  description: 'List containers',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      description: 'Show all containers (default shows just running)',
    },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display container IDs' },
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    {
      name: 'last',
      short: 'n',
      type: 'int',
      description: 'Show n last created containers (includes all states)',
      default: -1,
    },
    {
      name: 'latest',
      short: 'l',
      type: 'bool',
      description: 'Show the latest created container (includes all states)',
    },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const last = flags.latest === true ? 1 : (flags.last as number);
    const list = await ctx.client.containerList({
      all: flags.all === true || last > 0,
      limit: last > 0 ? last : undefined,
      size: flags.size === true,
      filters: parseFilters(flags.filter as string[]),
    });
    const rows = list.map((c) => new ContainerRow(c, flags['no-trunc'] === true));
    if (flags.quiet === true) {
      ctx.io.stdout.write(rows.map((r) => `${r.ID}\n`).join(''));
      return 0;
    }
    const size = flags.size === true ? '\t{{.Size}}' : '';
    ctx.io.stdout.write(
      formatList(
        rows,
        flags.format as string | undefined,
        `{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${size}`,
        {
          ID: 'CONTAINER ID',
          Image: 'IMAGE',
          Command: 'COMMAND',
          RunningFor: 'CREATED',
          CreatedAt: 'CREATED AT',
          Status: 'STATUS',
          State: 'STATE',
          Ports: 'PORTS',
          Names: 'NAMES',
          Size: 'SIZE',
          Labels: 'LABELS',
          Mounts: 'MOUNTS',
          Networks: 'NETWORKS',
          LocalVolumes: 'LOCAL VOLUMES',
        },
      ),
    );
    return 0;
  },
};
