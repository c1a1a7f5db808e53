import { ApiError, type VolumeResponse } from '@ts-container/api';
import { humanSize } from '@ts-container/common';
import { type Command, CommandError, write } from '../context.js';
import { formatList } from '../format.js';
import { confirm, filtersMap } from '../prompt.js';
import { inspectEach } from './containers.js';

/** What `volume ls --format` templates see, as in the docker CLI. */
class VolumeRow {
  constructor(private readonly v: VolumeResponse) {}
  get Name() {
    return this.v.Name;
  }
  get Driver() {
    return this.v.Driver;
  }
  get Scope() {
    return this.v.Scope;
  }
  get Mountpoint() {
    return this.v.Mountpoint;
  }
  get Labels() {
    return Object.entries(this.v.Labels ?? {})
      .map(([k, val]) => `${k}=${val}`)
      .join(',');
  }
  Label(name: string) {
    return this.v.Labels?.[name] ?? '';
  }
}

/** `key=value` list flags into an object. */
function keyValues(list: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const i = item.indexOf('=');
    if (i <= 0 && flag === '--opt')
      throw new CommandError(`invalid key/value pair format in driver options: ${item}`, 1);
    out[i < 0 ? item : item.slice(0, i)] = i < 0 ? '' : item.slice(i + 1);
  }
  return out;
}

export const volumeCreateCommand: Command = {
  name: 'volume create',
  usage: 'volume create [OPTIONS] [VOLUME]',
  description: 'Create a volume',
  flags: [
    { name: 'driver', short: 'd', type: 'string', description: 'Specify volume driver name' },
    { name: 'label', type: 'list', description: 'Set metadata for a volume' },
    { name: 'opt', short: 'o', type: 'list', description: 'Set driver specific options' },
    { name: 'name', type: 'string', description: 'Specify volume name', hidden: true },
  ],
  maxArgs: 1,
  async run(ctx, args, flags) {
    const name = args[0] ?? (flags.name as string | undefined);
    const v = await ctx.client.volumeCreate({
      ...(name ? { Name: name } : {}),
      Driver: (flags.driver as string | undefined) ?? 'local',
      DriverOpts: keyValues(flags.opt as string[], '--opt'),
      Labels: keyValues(flags.label as string[], '--label'),
    });
    write(ctx.io.stdout, v.Name);
    return 0;
  },
};

export const volumeLsCommand: Command = {
  name: 'volume ls',
  aliases: ['volume list'],
  usage: 'volume ls [OPTIONS]',
  description: 'List volumes',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only display volume names' },
    { name: 'filter', short: 'f', type: 'list', description: 'Provide filter values (e.g. "dangling=true")' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const { Volumes } = await ctx.client.volumeList(filtersMap(flags.filter as string[]));
    const rows = (Volumes ?? []).sort((a, b) => a.Name.localeCompare(b.Name)).map((v) => new VolumeRow(v));
    const format = flags.quiet === true ? '{{.Name}}' : (flags.format as string | undefined);
    ctx.io.stdout.write(formatList(rows, format, '{{.Driver}}\t{{.Name}}', { Name: 'VOLUME NAME' }));
    return 0;
  },
};

export const volumeInspectCommand: Command = {
  name: 'volume inspect',
  usage: 'volume inspect [OPTIONS] VOLUME [VOLUME...]',
  description: 'Display detailed information on one or more volumes',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ],
  minArgs: 1,
  run(ctx, args, flags) {
    return inspectEach(ctx, args, (n) => ctx.client.volumeInspect(n), flags.format as string | undefined);
  },
};

export const volumeRmCommand: Command = {
  name: 'volume rm',
  aliases: ['volume remove'],
  usage: 'volume rm [OPTIONS] VOLUME [VOLUME...]',
  description: 'Remove one or more volumes',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force the removal of one or more volumes' },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    let code = 0;
    for (const name of args) {
      try {
        await ctx.client.request('DELETE', `/volumes/${encodeURIComponent(name)}`, {
          query: { force: flags.force === true ? 1 : undefined },
        });
        write(ctx.io.stdout, name);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        write(ctx.io.stderr, `Error response from daemon: ${err.message}`);
        code = 1;
      }
    }
    return code;
  },
};

export const volumePruneCommand: Command = {
  name: 'volume prune',
  usage: 'volume prune [OPTIONS]',
  description: 'Remove unused local volumes',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      description: 'Remove all unused volumes, not just anonymous ones',
    },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<label>")' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const all = flags.all === true;
    const warning = all
      ? 'WARNING! This will remove all local volumes not used by at least one container.'
      : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
    if (flags.force !== true && !(await confirm(ctx, warning))) return 0;
    const filters = [...(flags.filter as string[]), ...(all ? ['all=true'] : [])];
    const result = await ctx.client.volumePrune(filtersMap(filters));
    const deleted = result.VolumesDeleted ?? [];
    if (deleted.length > 0) write(ctx.io.stdout, `Deleted Volumes:\n${deleted.join('\n')}\n\n`);
    write(ctx.io.stdout, `Total reclaimed space: ${humanSize(result.SpaceReclaimed)}`);
    return 0;
  },
};

export const VOLUME_COMMANDS: Command[] = [
  volumeCreateCommand,
  volumeLsCommand,
  volumeInspectCommand,
  volumeRmCommand,
  volumePruneCommand,
];
