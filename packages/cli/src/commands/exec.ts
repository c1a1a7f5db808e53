import { type Command, CommandError, write } from '../context.js';
import { renderTable } from '../table.js';
import { copyOutput, pipeOutput, setupInput } from './run.js';

export const execCommand: Command = {
  name: 'exec',
  aliases: ['container exec'],
  usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', description: 'Detached mode: run command in the background' },
    { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
    { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
    {
      name: 'user',
      short: 'u',
      type: 'string',
      description: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
    },
    { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
    { name: 'privileged', type: 'bool', description: 'Give extended privileges to the command' },
  ],
  interspersed: false,
  minArgs: 2,
  errorExitCode: 126,
  async run(ctx, args, flags) {
    const [container, ...cmd] = args;
    const interactive = flags.interactive === true;
    const tty = flags.tty === true;
    const { Id } = await ctx.client.execCreate(container!, {
      Cmd: cmd,
      Env: flags.env as string[],
      User: (flags.user as string | undefined) ?? '',
      WorkingDir: (flags.workdir as string | undefined) ?? '',
      Tty: tty,
      AttachStdin: interactive,
      AttachStdout: !flags.detach,
      AttachStderr: !flags.detach,
      Privileged: flags.privileged === true,
    });
    if (flags.detach === true) {
      await ctx.client.request('POST', `/exec/${Id}/start`, { body: { Detach: true, Tty: tty } });
      return 0;
    }
    const start = { body: { Detach: false, Tty: tty } };
    if (interactive) {
      const { socket, head } = await ctx.client.hijack('POST', `/exec/${Id}/start`, start);
      const done = pipeOutput(ctx, socket, head, tty);
      const restoreTerminal = setupInput(ctx, socket, Id, interactive, tty);
      try {
        await done;
      } finally {
        restoreTerminal();
      }
    } else {
      // Without stdin the output is the answer's body: no connection to hijack (under Bun, no node:net).
      await copyOutput(ctx, await ctx.client.chunks('POST', `/exec/${Id}/start`, start), tty);
    }
    const info = await ctx.client.execInspect(Id);
    return info.ExitCode ?? 0;
  },
};

function simple(name: string, path: string, description: string): Command {
  return {
    name,
    aliases: [`container ${name}`],
    usage: `${name} CONTAINER [CONTAINER...]`,
    description,
    flags: [],
    minArgs: 1,
    async run(ctx, args) {
      let code = 0;
      for (const c of args) {
        try {
          await ctx.client.request('POST', `/containers/${encodeURIComponent(c)}/${path}`);
          write(ctx.io.stdout, c);
        } catch (err) {
          write(ctx.io.stderr, `Error response from daemon: ${(err as Error).message}`);
          code = 1;
        }
      }
      return code;
    },
  };
}

export const pauseCommand = simple('pause', 'pause', 'Pause all processes within one or more containers');
export const unpauseCommand = simple(
  'unpause',
  'unpause',
  'Unpause all processes within one or more containers',
);

export const topCommand: Command = {
  name: 'top',
  aliases: ['container top'],
  usage: 'top CONTAINER [ps OPTIONS]',
  description: 'Display the running processes of a container',
  flags: [],
  interspersed: false,
  minArgs: 1,
  async run(ctx, args) {
    const [container, ...psArgs] = args;
    const r = await ctx.client.containerTop(container!, psArgs.length ? psArgs.join(' ') : undefined);
    write(ctx.io.stdout, renderTable([r.Titles, ...(r.Processes ?? [])]));
    return 0;
  },
};
