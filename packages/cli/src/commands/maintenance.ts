import { humanSize } from '@ts-container/common';
import { parseBytes, parseNanoCpus, parseRestart } from '../container-options.js';
import { type Command, CommandError, write } from '../context.js';
import { confirm, filtersMap } from '../prompt.js';
import { renderTemplate } from '../template.js';

export const updateCommand: Command = {
  name: 'update',
  aliases: ['container update'],
  usage: 'update [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Update configuration of one or more containers',
  flags: [
    { name: 'memory', short: 'm', type: 'string', description: 'Memory limit' },
    {
      name: 'memory-swap',
      type: 'string',
      description: 'Swap limit equal to memory plus swap: -1 to enable unlimited swap',
    },
    { name: 'memory-reservation', type: 'string', description: 'Memory soft limit' },
    { name: 'cpus', type: 'string', description: 'Number of CPUs' },
    { name: 'cpu-shares', short: 'c', type: 'int', description: 'CPU shares (relative weight)' },
    { name: 'cpu-quota', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
    { name: 'cpu-period', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
    { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
    { name: 'cpuset-mems', type: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
    { name: 'pids-limit', type: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
    { name: 'restart', type: 'string', description: 'Restart policy to apply when a container exits' },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    const str = (name: string) => flags[name] as string | undefined;
    const body: Record<string, unknown> = {};
    if (str('memory')) body.Memory = parseBytes(str('memory')!, '-m, --memory');
    if (str('memory-swap'))
      body.MemorySwap = str('memory-swap') === '-1' ? -1 : parseBytes(str('memory-swap')!, '--memory-swap');
    if (str('memory-reservation'))
      body.MemoryReservation = parseBytes(str('memory-reservation')!, '--memory-reservation');
    if (str('cpus')) body.NanoCpus = parseNanoCpus(str('cpus')!);
    for (const [flag, field] of [
      ['cpu-shares', 'CpuShares'],
      ['cpu-quota', 'CpuQuota'],
      ['cpu-period', 'CpuPeriod'],
      ['pids-limit', 'PidsLimit'],
    ] as const)
      if (flags[flag] !== undefined) body[field] = flags[flag];
    if (str('cpuset-cpus')) body.CpusetCpus = str('cpuset-cpus');
    if (str('cpuset-mems')) body.CpusetMems = str('cpuset-mems');
    if (str('restart')) body.RestartPolicy = parseRestart(str('restart')!);
    if (Object.keys(body).length === 0)
      throw new CommandError('you must provide one or more flags when using this command', 1);
    let code = 0;
    for (const name of args) {
      try {
        await ctx.client.request('POST', `/containers/${encodeURIComponent(name)}/update`, { body });
        write(ctx.io.stdout, name);
      } catch (err) {
        write(ctx.io.stderr, `Error response from daemon: ${(err as Error).message}`);
        code = 1;
      }
    }
    return code;
  },
};

interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
  timeNano: number;
  scope?: string;
}

export const eventsCommand: Command = {
  name: 'events',
  aliases: ['system events'],
  usage: 'events [OPTIONS]',
  description: 'Get real time events from the server',
  flags: [
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'since', type: 'string', description: 'Show all events created since timestamp' },
    { name: 'until', type: 'string', description: 'Stream events until this timestamp' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const filters = filtersMap(flags.filter as string[]);
    const query: Record<string, string> = {};
    if (Object.keys(filters).length > 0) query.filters = JSON.stringify(filters);
    for (const key of ['since', 'until'] as const) {
      const v = flags[key] as string | undefined;
      if (v) query[key] = eventTime(v);
    }
    const res = await ctx.client.chunks('GET', '/events', { query });
    const format = flags.format as string | undefined;
    let buffered = '';
    // A character split between two chunks is decoded whole.
    const decoder = new TextDecoder();
    for await (const chunk of res) {
      buffered += decoder.decode(chunk, { stream: true });
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        if (line === '') continue;
        // timeNano is beyond a double's precision: keep its digits from the text.
        const e = {
          ...(JSON.parse(line) as EventMessage),
          timeNano: /"timeNano":(\d+)/.exec(line)?.[1] ?? '0',
        };
        if (format === 'json' || format === '{{json .}}') write(ctx.io.stdout, line);
        else if (format) write(ctx.io.stdout, renderTemplate(format, e));
        else write(ctx.io.stdout, eventLine(e));
      }
    }
    return 0;
  },
};

/** Docker's line: `2024-05-01T10:00:00.123456789Z container start ID (image=busybox, name=web)`. */
export function eventLine(e: Omit<EventMessage, 'timeNano'> & { timeNano: string }): string {
  const digits = e.timeNano.padStart(10, '0');
  const seconds = Number(digits.slice(0, -9));
  const nanos = digits.slice(-9);
  const stamp = `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${nanos}Z`;
  const attrs = Object.entries(e.Actor.Attributes ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${stamp} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}`;
}

/** `--since/--until`: a Unix time, an RFC 3339 date, or a duration back from now (`10m`, `1h30m`). */
function eventTime(value: string): string {
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const duration = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value);
  if (duration && value !== '') {
    const [, h = '0', m = '0', s = '0'] = duration;
    return String(Math.floor(Date.now() / 1000) - (Number(h) * 3600 + Number(m) * 60 + Number(s)));
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new CommandError(`invalid value for time: ${value}`, 1);
  return String(Math.floor(t / 1000));
}

export const containerPruneCommand: Command = {
  name: 'container prune',
  usage: 'container prune [OPTIONS]',
  description: 'Remove all stopped containers',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    if (flags.force !== true && !(await confirm(ctx, 'WARNING! This will remove all stopped containers.')))
      return 0;
    const result = await ctx.client.containerPrune(filtersMap(flags.filter as string[]));
    const deleted = result.ContainersDeleted ?? [];
    if (deleted.length > 0) write(ctx.io.stdout, `Deleted Containers:\n${deleted.join('\n')}\n\n`);
    write(ctx.io.stdout, `Total reclaimed space: ${humanSize(result.SpaceReclaimed)}`);
    return 0;
  },
};

export const systemPruneCommand: Command = {
  name: 'system prune',
  usage: 'system prune [OPTIONS]',
  description: 'Remove unused data',
  flags: [
    { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<key>=<value>")' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const all = flags.all === true;
    const warning = [
      'WARNING! This will remove:',
      '  - all stopped containers',
      '  - all networks not used by at least one container',
      ...(flags.volumes === true ? ['  - all anonymous volumes not used by at least one container'] : []),
      all ? '  - all images without at least one container associated to them' : '  - all dangling images',
      all ? '  - all build cache' : '  - unused build cache',
      '',
    ].join('\n');
    if (flags.force !== true && !(await confirm(ctx, warning))) return 0;
    const filters = filtersMap(flags.filter as string[]);
    let reclaimed = 0;
    // The same order as Docker: containers first, so the rest are no longer in use.
    const containers = await ctx.client.containerPrune(filters);
    reclaimed += containers.SpaceReclaimed;
    if (containers.ContainersDeleted?.length)
      write(ctx.io.stdout, `Deleted Containers:\n${containers.ContainersDeleted.join('\n')}\n\n`);
    const networks = await ctx.client.networkPrune(filters);
    if (networks.NetworksDeleted?.length)
      write(ctx.io.stdout, `Deleted Networks:\n${networks.NetworksDeleted.join('\n')}\n\n`);
    if (flags.volumes === true) {
      const volumes = await ctx.client.volumePrune(filters);
      reclaimed += volumes.SpaceReclaimed;
      if (volumes.VolumesDeleted?.length)
        write(ctx.io.stdout, `Deleted Volumes:\n${volumes.VolumesDeleted.join('\n')}\n\n`);
    }
    const images = await ctx.client.imagePrune({ ...filters, dangling: [all ? 'false' : 'true'] });
    reclaimed += images.SpaceReclaimed;
    if (images.ImagesDeleted?.length) {
      const lines = images.ImagesDeleted.map((d) =>
        d.Untagged ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted}`,
      );
      write(ctx.io.stdout, `Deleted Images:\n${lines.join('\n')}\n\n`);
    }
    const cache = await ctx.client.buildCachePrune({ all });
    reclaimed += cache.SpaceReclaimed ?? 0;
    write(ctx.io.stdout, `Total reclaimed space: ${humanSize(reclaimed)}`);
    return 0;
  },
};

export const MAINTENANCE_COMMANDS: Command[] = [
  updateCommand,
  eventsCommand,
  containerPruneCommand,
  systemPruneCommand,
];
