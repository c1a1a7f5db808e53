import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageSummary } from '@ts-container/api';
import { humanSize } from '@ts-container/common';
import { type Command, CommandError } from '../context.js';
import { formatList, timeAgo } from '../format.js';
import { confirm, filtersMap } from '../prompt.js';
import { type UploadFile, openUploadFile } from '../upload-file.js';

/** Docker's units.HumanSize: decimal units, four significant digits (`16.43MB`, `0B`). */
export const humanSizeLong = (bytes: number): string => humanSize(bytes, 4);

export const saveCommand: Command = {
  name: 'save',
  aliases: ['image save'],
  usage: 'save [OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  minArgs: 1,
  async run(ctx, args, flags) {
    const output = flags.output as string | undefined;
    if (!output && ctx.io.stdoutIsTTY)
      throw new CommandError('Cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const res = await ctx.client.stream('GET', '/images/get', { query: { names: args } });
    if (!output) {
      await pipeline(res, ctx.io.stdout, { end: false });
      return 0;
    }
    // Written beside the target and renamed, so a failed save leaves no truncated archive.
    const tmp = `${output}.tmp-${process.pid}`;
    try {
      await pipeline(res, createWriteStream(tmp, { highWaterMark: 1 << 20 }));
      await rename(tmp, output);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new CommandError(`failed to save image: ${(err as Error).message}`);
    }
    return 0;
  },
};

export const loadCommand: Command = {
  name: 'load',
  aliases: ['image load'],
  usage: 'load [OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  flags: [
    {
      name: 'input',
      short: 'i',
      type: 'string',
      description: 'Read from tar archive file, instead of STDIN',
    },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the load output' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const input = flags.input as string | undefined;
    let upload: UploadFile;
    if (input) upload = await openUploadFile(input);
    else {
      if (ctx.io.stdin.isTTY) throw new CommandError('requested load from stdin, but stdin is empty');
      upload = { body: ctx.io.stdin, headers: {} };
    }
    const res = await ctx.client.stream('POST', '/images/load', {
      query: { quiet: flags.quiet === true ? 1 : undefined },
      body: upload.body,
      headers: { 'Content-Type': 'application/x-tar', ...upload.headers },
    });
    let buffered = '';
    for await (const chunk of res) {
      buffered += (chunk as Buffer).toString('utf8');
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as {
          stream?: string;
          error?: string;
          errorDetail?: { message: string };
        };
        if (msg.error)
          throw new CommandError(`Error response from daemon: ${msg.errorDetail?.message ?? msg.error}`);
        // Docker's -q only hides progress: the "Loaded image" lines are still printed.
        if (msg.stream) ctx.io.stdout.write(msg.stream);
      }
    }
    return 0;
  },
};

export const imagePruneCommand: Command = {
  name: 'image prune',
  usage: 'image prune [OPTIONS]',
  description: 'Remove unused images',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      description: 'Remove all unused images, not just dangling ones',
    },
    { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
    { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "until=<timestamp>")' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const all = flags.all === true;
    const warning = all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (flags.force !== true && !(await confirm(ctx, warning))) return 0;
    const filters = filtersMap(flags.filter as string[]);
    filters.dangling = [all ? 'false' : 'true'];
    const result = await ctx.client.imagePrune(filters);
    const deleted = result.ImagesDeleted ?? [];
    let out = '';
    if (deleted.length > 0) {
      out += 'Deleted Images:\n';
      for (const d of deleted) out += d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`;
      out += '\n';
    }
    out += `Total reclaimed space: ${humanSizeLong(result.SpaceReclaimed)}\n`;
    ctx.io.stdout.write(out);
    return 0;
  },
};

interface DiskUsage {
  LayersSize?: number;
  Images?: ImageSummary[];
  Containers?: Array<{
    Id: string;
    Names: string[];
    Image: string;
    Command: string;
    Created: number;
    State: string;
    Status: string;
    SizeRw: number;
  }>;
  Volumes?: { Name: string; UsageData?: { Size: number; RefCount: number } }[] | null;
  BuildCache?: unknown[];
}

export const systemDfCommand: Command = {
  name: 'system df',
  usage: 'system df [OPTIONS]',
  description: 'Show docker disk usage',
  flags: [
    { name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' },
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    // Checked by the API schema; the report reads a few more fields, which Docker always sends.
    const du = (await ctx.client.systemDf()) as DiskUsage;
    const images = du.Images ?? [];
    const containers = du.Containers ?? [];
    const volumes = du.Volumes ?? [];
    const volumeSize = (v: (typeof volumes)[number]) => Math.max(0, v.UsageData?.Size ?? 0);
    if (flags.verbose === true) {
      let out = 'Images space usage:\n\n';
      const rows = images.flatMap((i) => {
        const tags = i.RepoTags.length > 0 ? i.RepoTags : ['<none>:<none>'];
        return tags.map((t) => ({
          Repository: t.slice(0, t.lastIndexOf(':')),
          Tag: t.slice(t.lastIndexOf(':') + 1),
          ID: i.Id.slice(7, 19),
          CreatedSince: timeAgo(i.Created),
          Size: humanSizeLong(i.Size),
          SharedSize: humanSizeLong(Math.max(0, i.SharedSize)),
          UniqueSize: humanSizeLong(i.Size - Math.max(0, i.SharedSize)),
          Containers: String(Math.max(0, i.Containers)),
        }));
      });
      out += formatList(
        rows,
        undefined,
        '{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
        {
          Repository: 'REPOSITORY',
          Tag: 'TAG',
          ID: 'IMAGE ID',
          CreatedSince: 'CREATED',
          Size: 'SIZE',
          SharedSize: 'SHARED SIZE',
          UniqueSize: 'UNIQUE SIZE',
          Containers: 'CONTAINERS',
        },
      );
      out += '\nContainers space usage:\n\n';
      out += formatList(
        containers.map((c) => ({
          ID: c.Id.slice(0, 12),
          Image: c.Image,
          Command: JSON.stringify(c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command),
          LocalVolumes: '0',
          Size: humanSizeLong(c.SizeRw),
          CreatedSince: timeAgo(c.Created),
          Status: c.Status,
          Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
        })),
        undefined,
        '{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}',
        {
          ID: 'CONTAINER ID',
          Image: 'IMAGE',
          Command: 'COMMAND',
          LocalVolumes: 'LOCAL VOLUMES',
          Size: 'SIZE',
          CreatedSince: 'CREATED',
          Status: 'STATUS',
          Names: 'NAMES',
        },
      );
      out += '\nLocal Volumes space usage:\n\n';
      out += formatList(
        volumes.map((v) => ({
          Name: v.Name,
          Links: String(v.UsageData?.RefCount ?? 0),
          Size: humanSizeLong(volumeSize(v)),
        })),
        undefined,
        '{{.Name}}\t{{.Links}}\t{{.Size}}',
        { Name: 'VOLUME NAME', Links: 'LINKS', Size: 'SIZE' },
      );
      out +=
        '\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n';
      ctx.io.stdout.write(out);
      return 0;
    }
    const total = du.LayersSize ?? 0;
    let used = 0;
    for (const i of images)
      if (i.Containers > 0 && i.Size >= 0 && i.SharedSize >= 0) used += i.Size - i.SharedSize;
    const reclaimable = (size: number, of: number) =>
      of > 0 ? `${humanSizeLong(size)} (${Math.floor((size * 100) / of)}%)` : humanSizeLong(size);
    const containersSize = containers.reduce((s, c) => s + c.SizeRw, 0);
    const stoppedSize = containers.filter((c) => c.State !== 'running').reduce((s, c) => s + c.SizeRw, 0);
    const rows = [
      {
        Type: 'Images',
        TotalCount: String(images.length),
        Active: String(images.filter((i) => i.Containers > 0).length),
        Size: humanSizeLong(total),
        Reclaimable: reclaimable(total - used, total),
      },
      {
        Type: 'Containers',
        TotalCount: String(containers.length),
        Active: String(containers.filter((c) => c.State === 'running').length),
        Size: humanSizeLong(containersSize),
        Reclaimable: reclaimable(stoppedSize, containersSize),
      },
      {
        Type: 'Local Volumes',
        TotalCount: String(volumes.length),
        Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
        Size: humanSizeLong(volumes.reduce((sum, v) => sum + volumeSize(v), 0)),
        Reclaimable: reclaimable(
          volumes
            .filter((v) => (v.UsageData?.RefCount ?? 0) === 0)
            .reduce((sum, v) => sum + volumeSize(v), 0),
          volumes.reduce((sum, v) => sum + volumeSize(v), 0),
        ),
      },
      { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
    ];
    ctx.io.stdout.write(
      formatList(
        rows,
        flags.format as string | undefined,
        '{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
        { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' },
      ),
    );
    return 0;
  },
};
