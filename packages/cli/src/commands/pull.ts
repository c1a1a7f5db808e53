import { parseReference } from '@ts-container/image';
import { type Command, type CommandContext, CommandError, write } from '../context.js';

interface ProgressMessage {
  id?: string;
  status?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message: string };
}

/** Pulls through the daemon, printing Docker's progress lines; throws on a pull error. */
export async function pullImage(
  ctx: CommandContext,
  image: string,
  options: { quiet?: boolean; toStderr?: boolean; platform?: string } = {},
): Promise<void> {
  const ref = parseReference(image);
  const fromImage = image.includes('@') ? image.slice(0, image.indexOf('@')) : image.replace(/:[^/:]+$/, '');
  const tag = ref.digest ?? ref.tag ?? 'latest';
  const res = await ctx.client.stream('POST', '/images/create', {
    query: { fromImage, tag, platform: options.platform },
  });
  const out = options.toStderr ? ctx.io.stderr : ctx.io.stdout;
  let buffered = '';
  for await (const chunk of res) {
    buffered += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === '') continue;
      const msg = JSON.parse(line) as ProgressMessage;
      if (msg.error)
        throw new CommandError(`Error response from daemon: ${msg.errorDetail?.message ?? msg.error}`, 1);
      if (options.quiet) continue;
      if (msg.progress && !ctx.io.stdoutIsTTY) continue;
      write(
        out,
        msg.id
          ? `${msg.id}: ${msg.status ?? ''}${msg.progress ? ` ${msg.progress}` : ''}`
          : (msg.status ?? ''),
      );
    }
  }
}

export const pullCommand: Command = {
  name: 'pull',
  usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
    {
      name: 'all-tags',
      short: 'a',
      type: 'bool',
      description: 'Download all tagged images in the repository',
    },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const platform = flags.platform as string | undefined;
    await pullImage(ctx, args[0]!, { quiet: flags.quiet === true, ...(platform ? { platform } : {}) });
    if (flags.quiet === true) {
      const ref = parseReference(args[0]!);
      write(ctx.io.stdout, `${ref.domain}/${ref.path}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}`);
    }
    return 0;
  },
};
