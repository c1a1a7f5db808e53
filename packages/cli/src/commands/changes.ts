import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { lstat, mkdtemp, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { Transform, pipeline as pipelineStreams } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CreateResponseSchema } from '@ts-container/api';
import { ApiError } from '@ts-container/api';
import { humanSize } from '@ts-container/common';
import { extractArchive, parseReference } from '@ts-container/image';
import { type Command, type CommandContext, CommandError, write } from '../context.js';

export const diffCommand: Command = {
  name: 'diff',
  aliases: ['container diff'],
  usage: 'diff CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args) {
    const changes = await ctx.client.containerChanges(args[0]!);
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
    const r = await ctx.client.checked('POST', '/commit', CreateResponseSchema, {
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

/** Docker's cp argument: `CONTAINER:PATH` or a local path (absolute or `.`-relative is always local). */
function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

const STAT_HEADER = 'x-docker-container-path-stat';

function decodeStat(header: string | string[] | undefined): PathStat | undefined {
  if (typeof header !== 'string') return undefined;
  return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat;
}

const isDir = (mode: number) => mode >= 2 ** 31;

/** Escapes `s` for a GNU tar --transform sed expression delimited by `|`. */
const sedPattern = (s: string) => s.replace(/[\\|.*^$[\]]/g, '\\$&');
const sedReplacement = (s: string) => s.replace(/[\\|&]/g, '\\$&');

function counting(): { stream: Transform; bytes: () => number } {
  let total = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, bytes: () => total };
}

export const cpCommand: Command = {
  name: 'cp',
  aliases: ['container cp'],
  usage: 'cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  description: 'Copy files/folders between a container and the local filesystem',
  flags: [
    { name: 'archive', short: 'a', type: 'bool', description: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', type: 'bool', description: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress progress output during copy' },
  ],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, args, flags) {
    const src = splitCpArg(args[0]!);
    const dst = splitCpArg(args[1]!);
    const archive = flags.archive === true;
    const follow = flags['follow-link'] === true;
    const quiet = flags.quiet === true;
    if (src.container !== undefined && dst.container !== undefined)
      throw new CommandError('copying between containers is not supported');
    if (src.container === undefined && dst.container === undefined)
      throw new CommandError('must specify at least one container source');
    if (src.container !== undefined) {
      return copyFromContainer(ctx, src.container, src.path, dst.path, { archive, follow, quiet });
    }
    return copyToContainer(ctx, src.path, dst.container!, dst.path, { archive, follow, quiet });
  },
};

type CpFlags = { archive: boolean; follow: boolean; quiet: boolean };

async function statRemote(
  ctx: CommandContext,
  container: string,
  path: string,
): Promise<PathStat | undefined> {
  try {
    const res = await ctx.client.stream('HEAD', `/containers/${encodeURIComponent(container)}/archive`, {
      query: { path },
    });
    res.resume();
    return decodeStat(res.headers[STAT_HEADER]);
  } catch (err) {
    if (err instanceof ApiError && err.statusCode === 404 && !/No such container/i.test(err.message))
      return undefined;
    throw err;
  }
}

async function copyFromContainer(
  ctx: CommandContext,
  container: string,
  srcPath: string,
  dstPath: string,
  flags: CpFlags,
): Promise<number> {
  let path = srcPath;
  if (flags.follow) {
    const stat = await statRemote(ctx, container, srcPath);
    if (stat?.linkTarget) path = stat.linkTarget;
  }
  const res = await ctx.client.stream('GET', `/containers/${encodeURIComponent(container)}/archive`, {
    query: { path },
  });
  const stat = decodeStat(res.headers[STAT_HEADER]);
  if (dstPath === '-') {
    for await (const chunk of res) {
      if (!ctx.io.stdout.write(chunk as Buffer)) await once(ctx.io.stdout, 'drain');
    }
    return 0;
  }
  const srcName = stat?.name ?? basename(path);
  const srcIsDir = stat !== undefined && isDir(stat.mode);
  // With -L the archive is named after the link's target; the copy keeps the link's name.
  const wantedName = basename(srcPath.replace(/\/+$/, '')) || srcName;
  const contentsOnly = /\/\.$/.test(srcPath);
  const dst = resolve(dstPath);
  const existing = await lstatMaybe(dst);
  const count = counting();
  let into: string;
  let finalRename: { from: string; to: string } | undefined;
  if (existing?.isDirectory() && !contentsOnly) {
    into = dst;
    if (wantedName !== srcName) finalRename = { from: join(dst, srcName), to: join(dst, wantedName) };
  } else if (existing?.isDirectory() && contentsOnly) {
    into = dst;
  } else {
    if (existing && srcIsDir) throw new CommandError('cannot copy directory');
    if (dstPath.endsWith('/') && !srcIsDir)
      throw new CommandError(`destination directory ${dstPath} must exist`);
    const parent = dirname(dst);
    if (!(await lstatMaybe(parent))?.isDirectory())
      throw new CommandError(`destination directory ${parent} must exist`);
    into = await mkdtemp(join(parent, '.tsctr-cp-'));
    finalRename = { from: join(into, srcName), to: dst };
  }
  try {
    // The safe archive module, as the daemon uses it: entries stay inside the destination
    // directory whatever links the archive or the destination hold.
    await extractArchive(
      pipelineStreams(res, count.stream, () => undefined),
      into,
      {
        whiteouts: 'none',
        sameOwner: flags.archive === true,
        ...(contentsOnly && existing?.isDirectory() ? { strip: 1 } : {}),
      },
    );
    if (finalRename) {
      if (existing && !existing.isDirectory()) await rm(finalRename.to, { force: true });
      await rename(finalRename.from, finalRename.to);
    }
  } finally {
    if (into !== dst) await rm(into, { recursive: true, force: true });
  }
  if (!flags.quiet) write(ctx.io.stderr, `Successfully copied ${humanSize(count.bytes())} to ${dstPath}`);
  return 0;
}

async function copyToContainer(
  ctx: CommandContext,
  srcPath: string,
  container: string,
  dstPath: string,
  flags: CpFlags,
): Promise<number> {
  const target = `/containers/${encodeURIComponent(container)}/archive`;
  const query = (path: string) => ({ path, ...(flags.archive ? { copyUIDGID: 1 } : {}) });
  if (srcPath === '-') {
    const res = await ctx.client.stream('PUT', target, { query: query(dstPath), body: ctx.io.stdin });
    res.resume();
    return 0;
  }
  let src = resolve(srcPath);
  const srcStat = await lstatMaybe(src);
  if (!srcStat) throw new CommandError(`lstat ${src}: no such file or directory`);
  const srcName = basename(src);
  if (flags.follow && srcStat.isSymbolicLink()) src = await realpath(src);
  const srcIsDir =
    (await statMaybe(src))?.isDirectory() === true && (flags.follow || !srcStat.isSymbolicLink());
  const contentsOnly = /\/\.$/.test(srcPath);

  let dstStat = await statRemote(ctx, container, dstPath);
  let dst = dstPath;
  if (dstStat?.linkTarget) {
    dst = dstStat.linkTarget;
    dstStat = await statRemote(ctx, container, dst);
  }
  let putPath: string;
  let entryName: string;
  if (dstStat && isDir(dstStat.mode)) {
    putPath = dst;
    entryName = contentsOnly ? '.' : srcName;
  } else {
    if (dstStat && srcIsDir) throw new CommandError('cannot copy a directory to a file');
    if (!dstStat && dstPath.endsWith('/') && !srcIsDir)
      throw new CommandError(`destination directory ${dstPath} must exist`);
    putPath = posix.dirname(dst) || '/';
    entryName = posix.basename(dst);
  }
  const from = basename(src);
  const tarArgs = ['-c', '-f', '-', '--numeric-owner'];
  if (contentsOnly) {
    // The directory's contents: entries `./…`, renamed `NEW/…` when the destination is new.
    tarArgs.push('-C', src);
    if (entryName !== '.') tarArgs.push(`--transform=s|^\\.|${sedReplacement(entryName)}|`);
    tarArgs.push('.');
  } else {
    tarArgs.push('-C', dirname(src));
    if (entryName !== from) tarArgs.push(`--transform=s|^${sedPattern(from)}|${sedReplacement(entryName)}|`);
    tarArgs.push(from);
  }
  const tar = spawn('tar', tarArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  tar.stderr.on('data', (c: Buffer) => stderr.push(c));
  const exited = once(tar, 'close') as Promise<[number | null]>;
  const count = counting();
  tar.stdout.pipe(count.stream);
  const res = await ctx.client.stream('PUT', target, { query: query(putPath), body: count.stream });
  res.resume();
  const [code] = await exited;
  if (code !== 0)
    throw new CommandError(Buffer.concat(stderr).toString().trim() || `tar exited with ${code}`);
  if (!flags.quiet)
    write(ctx.io.stderr, `Successfully copied ${humanSize(count.bytes())} to ${container}:${dstPath}`);
  return 0;
}

async function lstatMaybe(path: string) {
  return lstat(path).catch(() => undefined);
}

async function statMaybe(path: string) {
  return stat(path).catch(() => undefined);
}
