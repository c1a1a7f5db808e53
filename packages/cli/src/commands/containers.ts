import { ApiError } from '@ts-container/api';
import { type Command, type CommandContext, write } from '../context.js';
import { renderTemplate } from '../template.js';
import { copyOutput, runAttached } from './run.js';

/** Runs `action` for each named container; errors are printed and make the exit code 1. */
async function forEach(
  ctx: CommandContext,
  names: string[],
  action: (name: string) => Promise<string | undefined>,
): Promise<number> {
  let code = 0;
  for (const name of names) {
    try {
      const out = await action(name);
      if (out !== undefined) write(ctx.io.stdout, out);
    } catch (err) {
      write(ctx.io.stderr, `Error response from daemon: ${(err as Error).message}`);
      code = 1;
    }
  }
  return code;
}

export const startCommand: Command = {
  name: 'start',
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  flags: [
    { name: 'attach', short: 'a', type: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
    { name: 'interactive', short: 'i', type: 'bool', description: "Attach container's STDIN" },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    if (flags.attach === true || flags.interactive === true) {
      const info = await ctx.client.containerInspect(args[0]!);
      return runAttached(ctx, info.Id, {
        tty: info.Config.Tty === true,
        interactive: flags.interactive === true,
        'sig-proxy': true,
      });
    }
    return forEach(ctx, args, async (name) => {
      await ctx.client.request('POST', `/containers/${encodeURIComponent(name)}/start`);
      return name;
    });
  },
};

export const stopCommand: Command = {
  name: 'stop',
  usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Stop one or more running containers',
  flags: [
    { name: 'time', short: 't', type: 'int', description: 'Seconds to wait before killing the container' },
    {
      name: 'timeout',
      type: 'int',
      description: 'Seconds to wait before killing the container',
      hidden: true,
    },
    { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    const t = (flags.time ?? flags.timeout) as number | undefined;
    return forEach(ctx, args, async (name) => {
      await ctx.client.request('POST', `/containers/${encodeURIComponent(name)}/stop`, {
        query: { t, signal: flags.signal as string | undefined },
      });
      return name;
    });
  },
};

export const restartCommand: Command = {
  name: 'restart',
  usage: 'restart [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Restart one or more containers',
  flags: [
    { name: 'time', short: 't', type: 'int', description: 'Seconds to wait before killing the container' },
    { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    return forEach(ctx, args, async (name) => {
      await ctx.client.request('POST', `/containers/${encodeURIComponent(name)}/restart`, {
        query: { t: flags.time as number | undefined },
      });
      return name;
    });
  },
};

export const killCommand: Command = {
  name: 'kill',
  usage: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  flags: [{ name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' }],
  minArgs: 1,
  async run(ctx, args, flags) {
    return forEach(ctx, args, async (name) => {
      await ctx.client.request('POST', `/containers/${encodeURIComponent(name)}/kill`, {
        query: { signal: flags.signal as string | undefined },
      });
      return name;
    });
  },
};

export const rmCommand: Command = {
  name: 'rm',
  aliases: ['container rm', 'container remove'],
  usage: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  flags: [
    {
      name: 'force',
      short: 'f',
      type: 'bool',
      description: 'Force the removal of a running container (uses SIGKILL)',
    },
    {
      name: 'volumes',
      short: 'v',
      type: 'bool',
      description: 'Remove anonymous volumes associated with the container',
    },
    { name: 'link', short: 'l', type: 'bool', description: 'Remove the specified link' },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    return forEach(ctx, args, async (name) => {
      await ctx.client.request('DELETE', `/containers/${encodeURIComponent(name)}`, {
        query: { force: flags.force === true ? 1 : undefined, v: flags.volumes === true ? 1 : undefined },
      });
      return name;
    });
  },
};

export const waitCommand: Command = {
  name: 'wait',
  usage: 'wait CONTAINER [CONTAINER...]',
  description: 'Block until one or more containers stop, then print their exit codes',
  flags: [],
  minArgs: 1,
  async run(ctx, args) {
    return forEach(ctx, args, async (name) => {
      const r = await ctx.client.containerWait(name);
      return String(r.StatusCode);
    });
  },
};

export const renameCommand: Command = {
  name: 'rename',
  usage: 'rename CONTAINER NEW_NAME',
  description: 'Rename a container',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, args) {
    await ctx.client.request('POST', `/containers/${encodeURIComponent(args[0]!)}/rename`, {
      query: { name: args[1] },
    });
    return 0;
  },
};

export const logsCommand: Command = {
  name: 'logs',
  usage: 'logs [OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  flags: [
    { name: 'follow', short: 'f', type: 'bool', description: 'Follow log output' },
    { name: 'timestamps', short: 't', type: 'bool', description: 'Show timestamps' },
    {
      name: 'tail',
      short: 'n',
      type: 'string',
      description: 'Number of lines to show from the end of the logs',
      default: 'all',
    },
    {
      name: 'since',
      type: 'string',
      description:
        'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
    {
      name: 'until',
      type: 'string',
      description:
        'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)',
    },
    { name: 'details', type: 'bool', description: 'Show extra details provided to logs' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const name = encodeURIComponent(args[0]!);
    const info = await ctx.client.containerInspect(args[0]!);
    const res = await ctx.client.chunks('GET', `/containers/${name}/logs`, {
      query: {
        stdout: 1,
        stderr: 1,
        follow: flags.follow === true ? 1 : undefined,
        timestamps: flags.timestamps === true ? 1 : undefined,
        tail: flags.tail as string,
        since: relativeTime(flags.since as string | undefined),
        until: relativeTime(flags.until as string | undefined),
      },
    });
    await copyOutput(ctx, res, info.Config.Tty === true);
    return 0;
  },
};

/** `42m` → a Unix time that long ago; absolute times pass through. */
function relativeTime(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)(s|m|h)$/.exec(value);
  if (!m) return value;
  const secs = Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
  return String(Math.floor(Date.now() / 1000 - secs));
}

export const inspectCommand: Command = {
  name: 'inspect',
  aliases: ['container inspect'],
  usage: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on Docker objects',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
    { name: 'type', type: 'string', description: 'Only inspect objects of the given type' },
    {
      name: 'size',
      short: 's',
      type: 'bool',
      description: 'Display total file sizes if the type is container',
    },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    const results: unknown[] = [];
    let code = 0;
    const type = flags.type as string | undefined;
    for (const name of args) {
      let found: unknown;
      // As the docker CLI: each kind of object in turn, the first that exists wins.
      const lookups: [string, () => Promise<unknown>][] = [
        ['container', () => ctx.client.containerInspect(name, { size: flags.size === true })],
        ['image', () => ctx.client.imageInspect(name)],
        ['network', () => ctx.client.networkInspect(name)],
        ['volume', () => ctx.client.volumeInspect(name)],
      ];
      for (const [kind, lookup] of lookups) {
        if (found !== undefined || (type !== undefined && type !== kind)) continue;
        found = await lookup().catch((err: unknown) => {
          // Not this kind of object: try the next. Anything else (daemon down…) is the answer.
          if (err instanceof ApiError && err.statusCode === 404) return undefined;
          throw err;
        });
      }
      if (found === undefined) {
        write(ctx.io.stderr, `Error: No such object: ${name}`);
        code = 1;
        continue;
      }
      results.push(found);
    }
    printInspect(ctx, results, flags.format as string | undefined);
    return code;
  },
};

/**
 * `image/network/volume inspect`: each object by its own path; what exists is printed, what
 * the daemon refuses is reported on stderr (exit 1), as the docker CLI does.
 */
export async function inspectEach(
  ctx: CommandContext,
  names: string[],
  lookup: (name: string) => Promise<unknown>,
  format: string | undefined,
): Promise<number> {
  const results: unknown[] = [];
  const errors: string[] = [];
  for (const name of names) {
    try {
      results.push(await lookup(name));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      errors.push(err.message);
    }
  }
  printInspect(ctx, results, format);
  for (const e of errors) write(ctx.io.stderr, `Error response from daemon: ${e}`);
  return errors.length > 0 ? 1 : 0;
}

export function printInspect(ctx: CommandContext, results: unknown[], format: string | undefined): void {
  if (format) {
    for (const r of results) write(ctx.io.stdout, renderTemplate(format, r));
    return;
  }
  write(ctx.io.stdout, JSON.stringify(results, null, 4));
}
