import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { ApiError, FrameSplitter, hostUrl } from '@ts-container/api';
import { parseReference } from '@ts-container/image';
import { loadCredentials } from '@ts-container/registry';
import { CONTAINER_FLAGS } from '../container-flags.js';
import { type Command, type CommandContext, CommandError, write } from '../context.js';
import { buildCreateRequest } from '../create-request.js';
import type { FlagValues } from '../flags.js';
import { writeTar } from '../tar.js';
import { pullImage } from './pull.js';

/** Docker's exit codes for a container that could not be started. */
export function startFailureExitCode(message: string): number {
  if (/executable file not found|no such file or directory|not found/.test(message) && /exec/.test(message))
    return 127;
  if (/permission denied|cannot execute/.test(message)) return 126;
  return 125;
}

/** Where `--use-api-socket` puts the client's resolved credentials, as docker 28 does. */
const API_SOCKET_CONFIG_DIR = '/run/secrets/docker';

/**
 * `--use-api-socket`: the client's registry credentials (helpers resolved) into the new
 * container's `/run/secrets/docker/config.json`, so clients inside can pull and push as the user.
 */
async function copyCredentials(ctx: CommandContext, id: string): Promise<void> {
  const path = join(ctx.configDir, 'config.json');
  const config = JSON.parse(
    await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '{}';
      throw err;
    }),
  ) as { auths?: Record<string, unknown>; credHelpers?: Record<string, string> };
  const auths: Record<string, { auth?: string; identitytoken?: string }> = {};
  for (const key of new Set([...Object.keys(config.auths ?? {}), ...Object.keys(config.credHelpers ?? {})])) {
    const creds = await loadCredentials(path, key);
    if (!creds) continue;
    auths[key] =
      'identityToken' in creds && creds.identityToken
        ? { identitytoken: creds.identityToken }
        : { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  }
  if (Object.keys(auths).length === 0) return;
  const tar = writeTar([
    { name: 'run/', mode: 0o755 },
    { name: 'run/secrets/', mode: 0o755 },
    { name: 'run/secrets/docker/', mode: 0o700 },
    {
      name: 'run/secrets/docker/config.json',
      mode: 0o600,
      data: Buffer.from(`${JSON.stringify({ auths }, null, '\t')}\n`),
    },
  ]);
  await ctx.client.request('PUT', `/containers/${id}/archive`, { query: { path: '/' }, body: tar });
}

async function createContainer(
  ctx: CommandContext,
  flags: FlagValues,
  image: string,
  command: string[],
): Promise<string> {
  try {
    parseReference(image);
  } catch (err) {
    throw new CommandError(`${(err as Error).message}.\nSee '${ctx.program} ${'run'} --help'.`, 125);
  }
  const cidfile = flags.cidfile as string | undefined;
  // Checked before anything is created, as Docker does.
  if (cidfile && existsSync(cidfile))
    throw new CommandError(
      `Container ID file found, make sure the other container isn't running or delete ${cidfile}`,
      125,
    );
  const body = buildCreateRequest(flags, image, command, ctx.io.env);
  if (flags['use-api-socket'] === true) {
    // As docker 28: the engine's socket is bind-mounted where clients look for it by default.
    const endpoint = ctx.client.endpoint;
    if (endpoint.kind !== 'unix')
      throw new CommandError(
        `flag --use-api-socket can only be used with unix sockets: docker endpoint ${hostUrl(endpoint)} incompatible`,
        125,
      );
    body.HostConfig = {
      ...body.HostConfig,
      Mounts: [
        ...(body.HostConfig?.Mounts ?? []),
        { Type: 'bind', Source: endpoint.path, Target: '/var/run/docker.sock' },
      ],
    };
    body.Env = [...(body.Env ?? []), `DOCKER_CONFIG=${API_SOCKET_CONFIG_DIR}`];
  }
  const name = flags.name as string | undefined;
  const create = () => ctx.client.containerCreate(body, name);
  let created: Awaited<ReturnType<typeof create>>;
  const pullPolicy = (flags.pull as string) ?? 'missing';
  if (pullPolicy === 'always') await pullImage(ctx, image, { quiet: flags.quiet === true, toStderr: true });
  try {
    created = await create();
  } catch (err) {
    if (
      !(err instanceof ApiError) ||
      err.statusCode !== 404 ||
      !/No such image/.test(err.message) ||
      pullPolicy === 'never'
    )
      throw err;
    const ref = parseReference(image);
    write(
      ctx.io.stderr,
      `Unable to find image '${image}${ref.tag && !image.includes(':') && !image.includes('@') ? `:${ref.tag}` : ''}' locally`,
    );
    await pullImage(ctx, image, { quiet: flags.quiet === true, toStderr: true });
    created = await create();
  }
  for (const w of created.Warnings ?? []) write(ctx.io.stderr, `WARNING: ${w}`);
  if (flags['use-api-socket'] === true) await copyCredentials(ctx, created.Id);
  if (cidfile) await writeFile(cidfile, created.Id);
  return created.Id;
}

export const createCommand: Command = {
  name: 'create',
  usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  flags: CONTAINER_FLAGS,
  interspersed: false,
  minArgs: 1,
  errorExitCode: 125,
  async run(ctx, args, flags) {
    const [image, ...command] = args;
    const id = await createContainer(ctx, flags, image!, command);
    write(ctx.io.stdout, id);
    return 0;
  },
};

export const runCommand: Command = {
  name: 'run',
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  flags: [
    ...CONTAINER_FLAGS,
    {
      name: 'detach',
      short: 'd',
      type: 'bool',
      description: 'Run container in background and print container ID',
    },
    { name: 'sig-proxy', type: 'bool', description: 'Proxy received signals to the process', default: true },
    { name: 'attach', short: 'a', type: 'list', description: 'Attach to STDIN, STDOUT or STDERR' },
    {
      name: 'detach-keys',
      type: 'string',
      description: 'Override the key sequence for detaching a container',
    },
  ],
  interspersed: false,
  minArgs: 1,
  errorExitCode: 125,
  async run(ctx, args, flags) {
    const [image, ...command] = args;
    const detach = flags.detach === true;
    const id = await createContainer(ctx, flags, image!, command);
    if (detach) {
      await start(ctx, id, flags);
      write(ctx.io.stdout, id);
      return 0;
    }
    return runAttached(ctx, id, flags);
  },
};

async function start(ctx: CommandContext, id: string, flags: FlagValues): Promise<void> {
  try {
    await ctx.client.request('POST', `/containers/${id}/start`);
  } catch (err) {
    if (flags.rm === true)
      await ctx.client.request('DELETE', `/containers/${id}`, { query: { force: 1 } }).catch(() => undefined);
    const message =
      err instanceof ApiError ? `Error response from daemon: ${err.message}` : (err as Error).message;
    throw new CommandError(message, startFailureExitCode(message));
  }
}

/**
 * `run` without `-d`: attach before starting (nothing is missed), start, stream output,
 * then exit with the container's status, as the docker CLI does.
 */
export async function runAttached(ctx: CommandContext, id: string, flags: FlagValues): Promise<number> {
  const tty = flags.tty === true;
  const interactive = flags.interactive === true;
  const path = `/containers/${id}/attach`;
  const query = {
    stream: 1,
    stdout: 1,
    stderr: 1,
    stdin: interactive ? 1 : 0,
    ...(flags['detach-keys'] ? { detachKeys: flags['detach-keys'] as string } : {}),
  };
  // Without stdin the output is the answer's body: no connection to hijack (under Bun, no node:net).
  const stopOutput = new AbortController();
  const attach = interactive ? await ctx.client.hijack('POST', path, { query }) : undefined;
  const body = attach
    ? undefined
    : await ctx.client.chunks('POST', path, { query, signal: stopOutput.signal });
  const waitCondition = flags.rm === true ? 'removed' : 'next-exit';
  const waitResult = ctx.client.containerWait(id, waitCondition);
  const output = attach
    ? pipeOutput(ctx, attach.socket, attach.head, tty).then(() => undefined)
    : copyOutput(ctx, body!, tty).then(
        () => undefined,
        (err: Error) => (stopOutput.signal.aborted ? undefined : err),
      );
  const restoreTerminal = attach ? setupInput(ctx, attach.socket, id, interactive, tty) : () => undefined;
  const signals = flags['sig-proxy'] !== false && !tty ? proxySignals(ctx, id) : () => undefined;
  try {
    await start(ctx, id, flags);
    if (tty) await resize(ctx, id);
    const outputError = await output;
    if (outputError) throw outputError;
    if (await detachedFrom(ctx, id)) return 0;
    const status = await waitResult;
    if (status.Error?.Message) write(ctx.io.stderr, `Error: ${status.Error.Message}`);
    return status.StatusCode;
  } finally {
    restoreTerminal();
    signals();
    attach?.socket.destroy();
    stopOutput.abort();
  }
}

/**
 * Writes a container's output, read as an answer's body (`logs`, an attach or exec without
 * stdin), to our stdout and stderr: as it is with a tty, else split from Docker's frames.
 */
export async function copyOutput(
  ctx: CommandContext,
  body: AsyncIterable<Buffer>,
  tty: boolean,
): Promise<void> {
  if (tty) {
    for await (const chunk of body) ctx.io.stdout.write(chunk);
    return;
  }
  const splitter = new FrameSplitter();
  for await (const chunk of body)
    for (const f of splitter.push(chunk))
      (f.stream === 'stderr' ? ctx.io.stderr : ctx.io.stdout).write(f.payload);
}

/**
 * The attach stream ended: the container stopped, or the user typed the detach keys (the
 * container is then still running, as Docker's CLI reports it by exiting 0).
 */
export async function detachedFrom(ctx: CommandContext, id: string): Promise<boolean> {
  const state = await ctx.client.containerInspect(id).catch(() => undefined);
  return state?.State.Running === true && state.State.Restarting !== true;
}

export function pipeOutput(ctx: CommandContext, socket: Duplex, head: Buffer, tty: boolean): Promise<void> {
  return new Promise((resolve) => {
    if (tty) {
      if (head.length) ctx.io.stdout.write(head);
      socket.on('data', (c: Buffer) => ctx.io.stdout.write(c));
      socket.resume();
    } else {
      const splitter = new FrameSplitter();
      const write = (chunk: Buffer) => {
        for (const f of splitter.push(chunk))
          (f.stream === 'stderr' ? ctx.io.stderr : ctx.io.stdout).write(f.payload);
      };
      if (head.length) write(head);
      socket.on('data', write);
      socket.resume();
    }
    socket.on('end', () => resolve());
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

export function setupInput(
  ctx: CommandContext,
  socket: Duplex,
  _id: string,
  interactive: boolean,
  tty: boolean,
): () => void {
  if (!interactive) return () => undefined;
  const stdin = ctx.io.stdin;
  const raw = tty && stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode!(true);
  const onData = (c: Buffer) => socket.write(c);
  const onEnd = () => socket.end();
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    if (raw) stdin.setRawMode!(false);
    stdin.pause();
  };
}

export async function resize(ctx: CommandContext, id: string): Promise<void> {
  const out = ctx.io.stdout as { columns?: number; rows?: number };
  if (out.columns && out.rows) {
    await ctx.client
      .request('POST', `/containers/${id}/resize`, { query: { h: out.rows, w: out.columns } })
      .catch(() => undefined);
  }
}

export function proxySignals(ctx: CommandContext, id: string): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const).map((sig) => {
    const h = () => {
      void ctx.client
        .request('POST', `/containers/${id}/kill`, { query: { signal: sig } })
        .catch(() => undefined);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}
