import type { HttpResponse } from '@ts-container/api';
import { humanSize } from '@ts-container/common';
import { familiarName, formatReference, parseReference } from '@ts-container/image';
import { defaultDockerConfigPath, loadCredentials } from '@ts-container/registry';
import { type Command, type CommandContext, CommandError, write } from '../context.js';

interface ProgressMessage {
  id?: string;
  status?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message: string };
}

/** Docker's progress bar: `[=====>      ]  1.2MB/5.3MB` (50 columns, decimal units). */
export function progressBar(current: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const bar = filled > 0 ? `${'='.repeat(filled - 1)}>` : '';
  return `[${bar.padEnd(width)}] ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/**
 * Docker's terminal rendering: one line per layer, redrawn in place (cursor up, clear line,
 * cursor back down) as its state and progress change; other messages are printed as they come.
 */
export class TerminalProgress {
  private readonly lines = new Map<string, number>();
  private count = 0;

  constructor(private readonly out: { write(text: string): unknown }) {}

  show(msg: ProgressMessage): void {
    const detail = msg.progressDetail;
    const bar =
      detail?.current !== undefined && detail.total !== undefined && detail.total > 0
        ? ` ${progressBar(detail.current, detail.total)}`
        : '';
    const text = msg.id ? `${msg.id}: ${msg.status ?? ''}${bar}` : (msg.status ?? '');
    const line = msg.id === undefined ? undefined : this.lines.get(msg.id);
    if (msg.id === undefined || line === undefined) {
      if (msg.id !== undefined) this.lines.set(msg.id, this.count);
      this.count++;
      this.out.write(`\x1b[2K\r${text}\n`);
      return;
    }
    const up = this.count - line;
    this.out.write(`\x1b[${up}A\x1b[2K\r${text}\x1b[${up}B\r`);
  }
}

/** `X-Registry-Auth` from the credentials `login` saved for the image's registry, as the docker CLI sends it. */
export async function registryAuthHeader(
  ctx: CommandContext,
  domain: string,
): Promise<Record<string, string>> {
  const creds = await loadCredentials(defaultDockerConfigPath(ctx.io.env), domain);
  if (!creds) return {};
  const auth = {
    username: creds.username,
    password: creds.password,
    identitytoken: creds.identityToken,
    serveraddress: domain,
  };
  return { 'X-Registry-Auth': Buffer.from(JSON.stringify(auth)).toString('base64url') };
}

/** Prints a daemon's JSON progress stream the way the docker CLI does when not on a terminal. */
export async function printProgress(
  ctx: CommandContext,
  res: HttpResponse,
  options: { quiet?: boolean; toStderr?: boolean } = {},
): Promise<void> {
  const out = options.toStderr ? ctx.io.stderr : ctx.io.stdout;
  const terminal = !options.toStderr && ctx.io.stdoutIsTTY ? new TerminalProgress(out) : undefined;
  let buffered = '';
  const seen = new Set<string>();
  for await (const chunk of res) {
    buffered += (chunk as Buffer).toString('utf8');
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === '') continue;
      const msg = JSON.parse(line) as ProgressMessage;
      if (msg.error)
        throw new CommandError(`Error response from daemon: ${msg.errorDetail?.message ?? msg.error}`, 1);
      if (options.quiet || msg.status === undefined) continue;
      if (terminal) {
        terminal.show(msg);
        continue;
      }
      // Without a terminal Docker prints each state once, without progress bars.
      const key = `${msg.id ?? ''}\0${msg.status}`;
      if (msg.progress !== undefined || seen.has(key)) continue;
      seen.add(key);
      write(out, msg.id ? `${msg.id}: ${msg.status}` : msg.status);
    }
  }
}

/** Pulls through the daemon, printing Docker's progress lines; throws on a pull error. */
export async function pullImage(
  ctx: CommandContext,
  image: string,
  options: { quiet?: boolean; toStderr?: boolean; platform?: string; allTags?: boolean } = {},
): Promise<void> {
  const ref = parseReference(image);
  const fromImage = `${ref.domain}/${ref.path}`;
  const explicitTag = /[:@]/.test(image.slice(image.lastIndexOf('/') + 1));
  if (options.allTags && explicitTag) throw new CommandError("tag can't be used with --all-tags/-a");
  // The API pulls every tag when `tag` is empty.
  const tag = options.allTags ? undefined : (ref.digest ?? ref.tag ?? 'latest');
  if (!options.quiet && !options.allTags && ref.tag === 'latest' && !image.includes(':latest'))
    write(options.toStderr ? ctx.io.stderr : ctx.io.stdout, 'Using default tag: latest');
  const res = await ctx.client.stream('POST', '/images/create', {
    query: { fromImage, tag, platform: options.platform },
    headers: await registryAuthHeader(ctx, ref.domain),
  });
  await printProgress(ctx, res, options);
}

export const pullCommand: Command = {
  name: 'pull',
  aliases: ['image pull'],
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
    const allTags = flags['all-tags'] === true;
    await pullImage(ctx, args[0]!, {
      quiet: flags.quiet === true,
      allTags,
      ...(platform ? { platform } : {}),
    });
    const ref = parseReference(args[0]!);
    write(ctx.io.stdout, allTags ? `${ref.domain}/${ref.path}` : formatReference(ref));
    return 0;
  },
};

export const pushCommand: Command = {
  name: 'push',
  aliases: ['image push'],
  usage: 'push [OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  flags: [
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress verbose output' },
    {
      name: 'all-tags',
      short: 'a',
      type: 'bool',
      description: 'Push all tags of an image to the repository',
    },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const ref = parseReference(args[0]!);
    const res = await ctx.client.stream(
      'POST',
      `/images/${ref.domain === 'docker.io' ? familiarName({ domain: ref.domain, path: ref.path }) : `${ref.domain}/${ref.path}`}/push`,
      {
        query: { tag: ref.tag ?? 'latest' },
        headers: await registryAuthHeader(ctx, ref.domain),
      },
    );
    await printProgress(ctx, res, { quiet: flags.quiet === true });
    if (flags.quiet === true) write(ctx.io.stdout, args[0]!);
    return 0;
  },
};
