import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SOCKET, type Endpoint, type TlsMaterial, parseHost } from '@ts-container/api';
import { z } from 'zod';

/**
 * The docker CLI's configuration directory and context store, in its on-disk format, so that a
 * context made by one CLI works in the other:
 * `contexts/meta/<sha256 of name>/meta.json`, TLS files under `contexts/tls/<sha256>/docker/`,
 * `currentContext` in `config.json`.
 */

/** `--config`, else `DOCKER_CONFIG`, else `~/.docker`, as the docker CLI picks it. */
export function configDir(env: Record<string, string | undefined>, flag?: string): string {
  return flag || env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
}

export const DEFAULT_CONTEXT = 'default';
export const TLS_FILES = ['ca.pem', 'cert.pem', 'key.pem'] as const;
export type TlsFile = (typeof TLS_FILES)[number];

const MetaSchema = z.object({
  Name: z.string(),
  Metadata: z.record(z.unknown()).nullish(),
  Endpoints: z
    .record(
      z.object({ Host: z.string().nullish(), SkipTLSVerify: z.boolean().nullish() }).passthrough().nullish(),
    )
    .nullish(),
});
export type ContextMeta = z.infer<typeof MetaSchema>;

export interface StoredContext {
  name: string;
  description: string;
  host: string;
  skipTLSVerify: boolean;
  /** The TLS files the docker endpoint has, by file name. */
  tls: Partial<Record<TlsFile, Buffer>>;
  meta: ContextMeta;
}

export function contextId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

/** Docker's rule for context names. */
export function validateContextName(name: string): void {
  if (name === '') throw new Error('context name cannot be empty');
  if (name === DEFAULT_CONTEXT) throw new Error(`"${DEFAULT_CONTEXT}" is a reserved context name`);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/.test(name))
    throw new Error(
      `context name ${JSON.stringify(name)} is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"`,
    );
}

export class ContextStore {
  constructor(readonly dir: string) {}

  metaDir(name: string): string {
    return join(this.dir, 'contexts', 'meta', contextId(name));
  }

  tlsDir(name: string): string {
    return join(this.dir, 'contexts', 'tls', contextId(name));
  }

  /** The docker CLI's words for a context that is not in the store. */
  notFound(name: string): Error {
    const path = join(this.metaDir(name), 'meta.json');
    return new Error(`context "${name}": context not found: open ${path}: no such file or directory`);
  }

  async exists(name: string): Promise<boolean> {
    return readFile(join(this.metaDir(name), 'meta.json')).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
  }

  async get(name: string): Promise<StoredContext> {
    const raw = await readFile(join(this.metaDir(name), 'meta.json'), 'utf8').catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw this.notFound(name);
        throw err;
      },
    );
    return this.fromMeta(MetaSchema.parse(JSON.parse(raw)), await this.readTls(name));
  }

  fromMeta(meta: ContextMeta, tls: StoredContext['tls']): StoredContext {
    const docker = meta.Endpoints?.docker;
    const description = meta.Metadata?.Description;
    return {
      name: meta.Name,
      description: typeof description === 'string' ? description : '',
      host: docker?.Host ?? '',
      skipTLSVerify: docker?.SkipTLSVerify === true,
      tls,
      meta,
    };
  }

  async readTls(name: string): Promise<StoredContext['tls']> {
    const tls: StoredContext['tls'] = {};
    for (const file of TLS_FILES) {
      const data = await readFile(join(this.tlsDir(name), 'docker', file)).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        },
      );
      if (data) tls[file] = data;
    }
    return tls;
  }

  async list(): Promise<StoredContext[]> {
    const root = join(this.dir, 'contexts', 'meta');
    const ids = await readdir(root).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    const out: StoredContext[] = [];
    for (const id of ids) {
      const raw = await readFile(join(root, id, 'meta.json'), 'utf8').catch(() => undefined);
      if (raw === undefined) continue;
      const meta = MetaSchema.parse(JSON.parse(raw));
      out.push(this.fromMeta(meta, await this.readTls(meta.Name)));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Writes a context; `tls` replaces the endpoint's TLS files when given. Other metadata is kept. */
  async save(context: StoredContext): Promise<void> {
    const meta = {
      ...context.meta,
      Name: context.name,
      Metadata: { ...(context.meta.Metadata ?? {}), Description: context.description || undefined },
      Endpoints: {
        ...(context.meta.Endpoints ?? {}),
        docker: {
          ...(context.meta.Endpoints?.docker ?? {}),
          Host: context.host,
          SkipTLSVerify: context.skipTLSVerify,
        },
      },
    };
    const dir = this.metaDir(context.name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, 'meta.json.tmp'), JSON.stringify(meta));
    await rename(join(dir, 'meta.json.tmp'), join(dir, 'meta.json'));
    const tlsDir = join(this.tlsDir(context.name), 'docker');
    await rm(this.tlsDir(context.name), { recursive: true, force: true });
    if (Object.keys(context.tls).length > 0) {
      await mkdir(tlsDir, { recursive: true, mode: 0o700 });
      for (const [file, data] of Object.entries(context.tls))
        await writeFile(join(tlsDir, file), data, { mode: 0o600 });
    }
  }

  async remove(name: string): Promise<void> {
    if (!(await this.exists(name))) throw this.notFound(name);
    await rm(this.metaDir(name), { recursive: true, force: true });
    await rm(this.tlsDir(name), { recursive: true, force: true });
  }
}

/** `config.json`, kept as the docker CLI wrote it apart from the keys we change. */
export async function readConfigFile(dir: string): Promise<Record<string, unknown>> {
  const raw = await readFile(join(dir, 'config.json'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (raw === undefined || raw.trim() === '') return {};
  return JSON.parse(raw) as Record<string, unknown>;
}

export async function setCurrentContext(dir: string, name: string): Promise<void> {
  const config = await readConfigFile(dir);
  // JSON.stringify leaves the key out, as the docker CLI's omitempty does.
  if (name === DEFAULT_CONTEXT) config.currentContext = undefined;
  else config.currentContext = name;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'config.json.tmp'), JSON.stringify(config, null, '\t'), { mode: 0o600 });
  await rename(join(dir, 'config.json.tmp'), join(dir, 'config.json'));
}

/** The global options that choose the daemon, as the docker CLI has them. */
export interface ConnectionFlags {
  host?: string;
  context?: string;
  tls: boolean;
  tlsverify: boolean;
  /** Only when given on the command line (defaults are looked up under the cert path). */
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  config?: string;
}

export interface ResolvedContext {
  name: string;
  endpoint: Endpoint;
  /** The host as given (`-H`, DOCKER_HOST, the context's endpoint), for messages. */
  host: string;
}

/** The context name the docker CLI would use: `--context`, `-H`, DOCKER_HOST, DOCKER_CONTEXT, config.json. */
export async function contextName(
  flags: ConnectionFlags,
  env: Record<string, string | undefined>,
): Promise<string> {
  if (flags.context && flags.host)
    throw new Error('conflicting options: cannot specify both --host and --context');
  if (flags.context) return flags.context;
  if (flags.host || env.DOCKER_HOST) return DEFAULT_CONTEXT;
  if (env.DOCKER_CONTEXT) return env.DOCKER_CONTEXT;
  const dir = configDir(env, flags.config);
  const current = (await readConfigFile(dir)).currentContext;
  if (typeof current === 'string' && current !== '') {
    if (current !== DEFAULT_CONTEXT && !(await new ContextStore(dir).exists(current)))
      throw new Error(
        `current context "${current}" is not found on the file system, please check your config file at ${join(dir, 'config.json')}`,
      );
    return current;
  }
  return DEFAULT_CONTEXT;
}

/** The daemon to talk to, from the flags, the environment and the context store. */
export async function resolveContext(
  flags: ConnectionFlags,
  env: Record<string, string | undefined>,
): Promise<ResolvedContext> {
  const name = await contextName(flags, env);
  if (name === DEFAULT_CONTEXT) {
    const host = flags.host || env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`;
    const tls = await defaultTls(flags, env);
    return { name, host, endpoint: parseHost(host, tls) };
  }
  const stored = await new ContextStore(configDir(env, flags.config)).get(name).catch((err: Error) => {
    throw new Error(`Failed to initialize: unable to resolve docker endpoint: ${err.message}`);
  });
  return { name, host: stored.host, endpoint: endpointOf(stored) };
}

/** A stored context's endpoint: TLS when it has TLS files or skips verification, as docker decides. */
export function endpointOf(context: StoredContext): Endpoint {
  const hasTls = Object.keys(context.tls).length > 0 || context.skipTLSVerify;
  return parseHost(
    context.host,
    hasTls
      ? {
          verify: !context.skipTLSVerify,
          ...(context.tls['ca.pem'] ? { ca: context.tls['ca.pem'] } : {}),
          ...(context.tls['cert.pem'] ? { cert: context.tls['cert.pem'] } : {}),
          ...(context.tls['key.pem'] ? { key: context.tls['key.pem'] } : {}),
        }
      : undefined,
  );
}

/**
 * `--tls`/`--tlsverify` (or DOCKER_TLS/DOCKER_TLS_VERIFY) with files from the flags, else from
 * DOCKER_CERT_PATH (default: the config directory). As in the docker CLI, the CA is required when
 * verifying and ignored otherwise; a default client certificate or key that is absent is left out.
 */
async function defaultTls(
  flags: ConnectionFlags,
  env: Record<string, string | undefined>,
): Promise<TlsMaterial | undefined> {
  const verify = flags.tlsverify || (env.DOCKER_TLS_VERIFY ?? '') !== '';
  const tls = verify || flags.tls || (env.DOCKER_TLS ?? '') !== '';
  if (!tls) return undefined;
  const certPath = env.DOCKER_CERT_PATH || configDir(env, flags.config);
  const read = async (given: string | undefined, file: string, required: boolean) => {
    const path = given ?? join(certPath, file);
    return readFile(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && given === undefined && !required) return undefined;
      throw new Error(
        `Could not load X509 key pair: open ${path}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`,
      );
    });
  };
  const ca = verify
    ? await readFile(flags.tlscacert ?? join(certPath, 'ca.pem')).catch((err: NodeJS.ErrnoException) => {
        throw new Error(
          `could not read CA certificate "${flags.tlscacert ?? join(certPath, 'ca.pem')}": open ${flags.tlscacert ?? join(certPath, 'ca.pem')}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`,
        );
      })
    : undefined;
  const cert = await read(flags.tlscert, 'cert.pem', false);
  const key = await read(flags.tlskey, 'key.pem', false);
  return { verify, ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) };
}
