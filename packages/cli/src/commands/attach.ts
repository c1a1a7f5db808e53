import { type Command, CommandError } from '../context.js';
import { detachedFrom, pipeOutput, proxySignals, resize, setupInput } from './run.js';

/** `attach`: the terminal joins a running container's stdio (stdin when it was created with -i). */
export const attachCommand: Command = {
  name: 'attach',
  aliases: ['container attach'],
  usage: 'attach [OPTIONS] CONTAINER',
  description: 'Attach local standard input, output, and error streams to a running container',
  flags: [
    { name: 'no-stdin', type: 'bool', description: 'Do not attach STDIN' },
    {
      name: 'detach-keys',
      type: 'string',
      description: 'Override the key sequence for detaching a container',
    },
    {
      name: 'sig-proxy',
      type: 'bool',
      description: 'Proxy all received signals to the process',
      default: true,
    },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const info = await ctx.client.containerInspect(args[0]!);
    if (!info.State.Running)
      throw new CommandError('You cannot attach to a stopped container, start it first', 1);
    if (info.State.Paused)
      throw new CommandError('You cannot attach to a paused container, unpause it first', 1);
    const tty = info.Config.Tty === true;
    const interactive = flags['no-stdin'] !== true && info.Config.OpenStdin === true;
    const { socket, head } = await ctx.client.hijack('POST', `/containers/${info.Id}/attach`, {
      query: {
        stream: 1,
        stdout: 1,
        stderr: 1,
        stdin: interactive ? 1 : 0,
        ...(flags['detach-keys'] ? { detachKeys: flags['detach-keys'] as string } : {}),
      },
    });
    const waitResult = ctx.client.containerWait(info.Id);
    const output = pipeOutput(ctx, socket, head, tty);
    const restoreTerminal = setupInput(ctx, socket, info.Id, interactive, tty);
    const signals = flags['sig-proxy'] !== false && !tty ? proxySignals(ctx, info.Id) : () => undefined;
    try {
      if (tty) await resize(ctx, info.Id);
      await output;
      if (await detachedFrom(ctx, info.Id)) return 0;
      return (await waitResult).StatusCode;
    } finally {
      restoreTerminal();
      signals();
      socket.destroy();
    }
  },
};
