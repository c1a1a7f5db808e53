import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { parseReference } from '@ts-container/image';
import { type Command, CommandError, write } from '../context.js';

export const diffCommand: Command = {
  name: 'diff',
  aliases: ['container diff'],
  usage: 'diff CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args) {
    const changes = await ctx.client.request<Array<{ Path: string; Kind: 0 | 1 | 2 }> | null>(
      'GET',
      `/containers/${encodeURIComponent(args[0]!)}/changes`,
    );
    for (const c of changes ?? []) write(ctx.io.stdout, `${['C', 'A', 'D'][c.Kind]} ${c.Path}`);
    return 0;
  },
};

export const commitCommand: Command = {
  name: 'commit',
  aliases: ['container commit'],
  usage: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  flags: [
    {
      name: 'author',
      short: 'a',
      type: 'string',
      description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
    },
    {
      name: 'change',
      short: 'c',
      type: 'list',
      description: 'Apply Dockerfile instruction to the created image',
    },
    { name: 'message', short: 'm', type: 'string', description: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', description: 'Pause container during commit', default: true },
  ],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, args, flags) {
    let repo: string | undefined;
    let tag: string | undefined;
    if (args[1]) {
      try {
        parseReference(args[1]);
      } catch (err) {
        throw new CommandError(
          `invalid reference format: ${(err as Error).message.replace(/^invalid reference format:?\s*/, '')}`.replace(
            /: $/,
            '',
          ),
        );
      }
      const slash = args[1].lastIndexOf('/');
      const colon = args[1].lastIndexOf(':');
      repo = colon > slash ? args[1].slice(0, colon) : args[1];
      tag = colon > slash ? args[1].slice(colon + 1) : undefined;
    }
    const r = await ctx.client.request<{ Id: string }>('POST', '/commit', {
      query: {
        container: args[0],
        repo,
        tag,
        comment: flags.message as string | undefined,
        author: flags.author as string | undefined,
        changes: flags.change as string[],
        pause: flags.pause === false ? 0 : 1,
      },
      body: {},
    });
    write(ctx.io.stdout, r.Id);
    return 0;
  },
};

export const exportCommand: Command = {
  name: 'export',
  aliases: ['container export'],
  usage: 'export [OPTIONS] CONTAINER',
  description: "Export a container's filesystem as a tar archive",
  flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const output = flags.output as string | undefined;
    if (!output && ctx.io.stdoutIsTTY)
      throw new CommandError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const res = await ctx.client.stream('GET', `/containers/${encodeURIComponent(args[0]!)}/export`);
    if (output) {
      await pipeline(res, createWriteStream(output));
      return 0;
    }
    // stdout is written to, never ended: it belongs to the process.
    for await (const chunk of res) {
      if (!ctx.io.stdout.write(chunk as Buffer)) await once(ctx.io.stdout, 'drain');
    }
    return 0;
  },
};
