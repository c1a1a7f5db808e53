import { Readable } from 'node:stream';
import { ApiError, type ImageSummaryResponse } from '@ts-container/api';
import { parseReference } from '@ts-container/image';
import { type Command, CommandError, write } from '../context.js';
import { formatList, humanSize, timeAgo } from '../format.js';
import { type UploadFile, openUploadFile } from '../upload-file.js';
import { inspectEach } from './containers.js';

/**
 * The rows of one image, as the docker CLI makes them: one per tag (per tag and digest of its
 * repository with --digests), one per repository known only by digest, or `<none>` for a
 * dangling image.
 */
function imageRows(image: ImageSummaryResponse, noTrunc: boolean, showDigests: boolean): ImageRow[] {
  const tagged = (image.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
  const digested = (image.RepoDigests ?? []).filter((d) => d !== '<none>@<none>');
  if (tagged.length === 0 && digested.length === 0)
    return [new ImageRow(image, '<none>', '<none>', '<none>', noTrunc)];
  const split = (ref: string, sep: string) => {
    const at = ref.lastIndexOf(sep);
    return [ref.slice(0, at), ref.slice(at + 1)] as const;
  };
  const digestsOf = new Map<string, string[]>();
  for (const d of digested) {
    const [repo, digest] = split(d, '@');
    digestsOf.set(repo, [...(digestsOf.get(repo) ?? []), digest]);
  }
  const rows: ImageRow[] = [];
  const tagRepos = new Set<string>();
  for (const t of tagged) {
    const [repo, tag] = split(t, ':');
    tagRepos.add(repo);
    const digests = showDigests ? (digestsOf.get(repo) ?? []) : [];
    if (digests.length === 0) rows.push(new ImageRow(image, repo, tag, '<none>', noTrunc));
    for (const d of digests) rows.push(new ImageRow(image, repo, tag, d, noTrunc));
  }
  for (const [repo, digests] of digestsOf) {
    if (tagRepos.has(repo)) continue;
    if (showDigests) for (const d of digests) rows.push(new ImageRow(image, repo, '<none>', d, noTrunc));
    else rows.push(new ImageRow(image, repo, '<none>', '<none>', noTrunc));
  }
  return rows;
}

/** One row of `docker images`: an image under one of its references (or `<none>`). */
class ImageRow {
  constructor(
    private readonly image: ImageSummaryResponse,
    private readonly repository: string,
    private readonly tag: string,
    private readonly digest: string,
    private readonly noTrunc: boolean,
  ) {}
  // Getters, not fields: `{{json .}}` shows a row's getters (as Docker shows its fields).
  get Repository() {
    return this.repository;
  }
  get Tag() {
    return this.tag;
  }
  get Digest() {
    return this.digest;
  }
  get ID() {
    return this.noTrunc ? this.image.Id : this.image.Id.replace(/^sha256:/, '').slice(0, 12);
  }
  get CreatedSince() {
    return timeAgo(this.image.Created);
  }
  get CreatedAt() {
    return new Date(this.image.Created * 1000)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' +0000 UTC');
  }
  get Size() {
    return humanSize(this.image.Size);
  }
  get Containers() {
    return this.image.Containers < 0 ? 'N/A' : String(this.image.Containers);
  }
  get SharedSize() {
    const shared = this.image.SharedSize ?? -1;
    return shared < 0 ? 'N/A' : humanSize(shared);
  }
  get UniqueSize() {
    return 'N/A';
  }
  get VirtualSize() {
    return humanSize(this.image.VirtualSize ?? this.image.Size);
  }
}

export const imagesCommand: Command = {
  name: 'images',
  aliases: ['image ls', 'image list'],
  usage: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      description: 'Show all images (default hides intermediate images)',
    },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
    { name: 'digests', type: 'bool', description: 'Show digests' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
  ],
  maxArgs: 1,
  async run(ctx, args, flags) {
    const filters: Record<string, string[]> = {};
    for (const f of flags.filter as string[]) {
      const i = f.indexOf('=');
      if (i < 0) throw new CommandError('bad format of filter (expected name=value)');
      (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
    }
    if (args[0]) (filters.reference ??= []).push(args[0]);
    const list = await ctx.client.imageList({ all: flags.all === true, digests: true, filters });
    const noTrunc = flags['no-trunc'] === true;
    const showDigests = flags.digests === true;
    const rows = list.flatMap((image) => imageRows(image, noTrunc, showDigests));
    if (flags.quiet === true) {
      // Like Docker: one ID per row, so an image listed under two tags shows twice.
      ctx.io.stdout.write(rows.map((r) => `${r.ID}\n`).join(''));
      return 0;
    }
    const digests = showDigests ? '\t{{.Digest}}' : '';
    ctx.io.stdout.write(
      formatList(
        rows,
        flags.format as string | undefined,
        `{{.Repository}}\t{{.Tag}}${digests}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}`,
        {
          Repository: 'REPOSITORY',
          Tag: 'TAG',
          Digest: 'DIGEST',
          ID: 'IMAGE ID',
          CreatedSince: 'CREATED',
          CreatedAt: 'CREATED AT',
          Size: 'SIZE',
          Containers: 'CONTAINERS',
          SharedSize: 'SHARED SIZE',
          UniqueSize: 'UNIQUE SIZE',
          VirtualSize: 'VIRTUAL SIZE',
        },
      ),
    );
    return 0;
  },
};

export const importCommand: Command = {
  name: 'import',
  aliases: ['image import'],
  usage: 'import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    {
      name: 'change',
      short: 'c',
      type: 'list',
      description: 'Apply Dockerfile instruction to the created image',
    },
    { name: 'message', short: 'm', type: 'string', description: 'Set commit message for imported image' },
    { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, args, flags) {
    const [source, reference] = args;
    let repo: string | undefined;
    let tag: string | undefined;
    if (reference) {
      try {
        parseReference(reference);
      } catch (err) {
        throw new CommandError((err as Error).message);
      }
      const slash = reference.lastIndexOf('/');
      const colon = reference.lastIndexOf(':');
      if (colon > slash) {
        repo = reference.slice(0, colon);
        tag = reference.slice(colon + 1);
      } else repo = reference;
    }
    let upload: UploadFile = { body: ctx.io.stdin, headers: {} };
    let fromSrc = '-';
    if (/^https?:\/\//.test(source!)) {
      fromSrc = source!;
      upload = { body: Readable.from([]), headers: {} };
    } else if (source !== '-') upload = await openUploadFile(source!);
    const res = await ctx.client.request<string | { status: string }>('POST', '/images/create', {
      query: {
        fromSrc,
        repo,
        tag,
        message: flags.message as string | undefined,
        changes: flags.change as string[],
      },
      body: upload.body,
      headers: upload.headers,
    });
    const text = typeof res === 'string' ? res : JSON.stringify(res);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const msg = JSON.parse(line) as { status?: string; error?: string };
      if (msg.error) throw new CommandError(`Error response from daemon: ${msg.error}`);
      if (msg.status) write(ctx.io.stdout, msg.status);
    }
    return 0;
  },
};

export const rmiCommand: Command = {
  name: 'rmi',
  aliases: ['image rm', 'image remove'],
  usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  flags: [
    { name: 'force', short: 'f', type: 'bool', description: 'Force removal of the image' },
    { name: 'no-prune', type: 'bool', description: 'Do not delete untagged parents' },
  ],
  minArgs: 1,
  async run(ctx, args, flags) {
    const errors: string[] = [];
    let fatal = false;
    for (const name of args) {
      try {
        const report = await ctx.client.imageRemove(name, {
          force: flags.force === true,
          noprune: flags['no-prune'] === true,
        });
        for (const r of report)
          write(ctx.io.stdout, r.Untagged ? `Untagged: ${r.Untagged}` : `Deleted: ${r.Deleted}`);
      } catch (err) {
        if (!(err instanceof ApiError && err.statusCode === 404)) fatal = true;
        errors.push(`Error response from daemon: ${(err as Error).message}`);
      }
    }
    if (errors.length === 0) return 0;
    // Like docker: with -f, images that do not exist are reported but do not fail the command.
    write(ctx.io.stderr, errors.join('\n'));
    return flags.force === true && !fatal ? 0 : 1;
  },
};

export const tagCommand: Command = {
  name: 'tag',
  aliases: ['image tag'],
  usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, args) {
    const target = args[1]!;
    try {
      parseReference(target);
    } catch (err) {
      throw new CommandError(
        `Error parsing reference: "${target}" is not a valid repository/tag: ${(err as Error).message}`,
      );
    }
    const slash = target.lastIndexOf('/');
    const colon = target.lastIndexOf(':');
    const repo = colon > slash ? target.slice(0, colon) : target;
    const tag = colon > slash ? target.slice(colon + 1) : 'latest';
    await ctx.client.request('POST', `/images/${args[0]}/tag`, { query: { repo, tag } });
    return 0;
  },
};

export const historyCommand: Command = {
  name: 'history',
  aliases: ['image history'],
  usage: 'history [OPTIONS] IMAGE',
  description: 'Show the history of an image',
  flags: [
    {
      name: 'human',
      short: 'H',
      type: 'bool',
      description: 'Print sizes and dates in human readable format',
      default: true,
    },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show image IDs' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const rows = await ctx.client.imageHistory(args[0]!);
    const noTrunc = flags['no-trunc'] === true;
    const human = flags.human !== false;
    const items = rows.map((r) => ({
      ID: r.Id === '<missing>' || noTrunc ? r.Id : r.Id.slice(7, 19),
      CreatedSince: human ? timeAgo(r.Created) : new Date(r.Created * 1000).toISOString(),
      CreatedAt: new Date(r.Created * 1000).toISOString(),
      CreatedBy:
        noTrunc || [...r.CreatedBy].length <= 45 ? r.CreatedBy : `${[...r.CreatedBy].slice(0, 44).join('')}…`,
      Size: human ? humanSize(r.Size) : String(r.Size),
      Comment: r.Comment,
    }));
    if (flags.quiet === true) {
      ctx.io.stdout.write(items.map((i) => `${i.ID}\n`).join(''));
      return 0;
    }
    ctx.io.stdout.write(
      formatList(
        items,
        flags.format as string | undefined,
        '{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}',
        {
          ID: 'IMAGE',
          CreatedSince: 'CREATED',
          CreatedAt: 'CREATED AT',
          CreatedBy: 'CREATED BY',
          Size: 'SIZE',
          Comment: 'COMMENT',
        },
      ),
    );
    return 0;
  },
};

export const imageInspectCommand: Command = {
  name: 'image inspect',
  usage: 'image inspect [OPTIONS] IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ],
  minArgs: 1,
  run(ctx, args, flags) {
    return inspectEach(ctx, args, (n) => ctx.client.imageInspect(n), flags.format as string | undefined);
  },
};
