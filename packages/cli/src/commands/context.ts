import { readFile } from 'node:fs/promises';
import { hostUrl, parseHost } from '@ts-container/api';
import { type Command, type CommandContext, CommandError, write } from '../context.js';
import {
  ContextStore,
  DEFAULT_CONTEXT,
  type StoredContext,
  TLS_FILES,
  type TlsFile,
  contextName,
  readConfigFile,
  setCurrentContext,
  validateContextName,
} from '../docker-config.js';
import { formatList } from '../format.js';
import { contextExportCommand, contextImportCommand } from './context-archive.js';

const DOCKER_KEYS = ['from', 'host', 'ca', 'cert', 'key', 'skip-tls-verify'];
const TLS_KEYS: Record<string, TlsFile> = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' };

/**
 * `--docker "host=…,ca=…,cert=…,key=…,skip-tls-verify=…"` or `--docker from=CONTEXT`, as the
 * docker CLI parses it: every key is checked first; `from=` then takes the other context's
 * endpoint (host and skip-tls-verify, not its TLS files: the docker CLI copies none either) and
 * the other keys are ignored.
 */
async function parseDockerEndpoint(
  ctx: CommandContext,
  spec: string,
  base: StoredContext | undefined,
): Promise<Pick<StoredContext, 'host' | 'skipTLSVerify' | 'tls'>> {
  const fields = new Map<string, string>();
  for (const field of spec.split(',')) {
    if (field.trim() === '') continue;
    const i = field.indexOf('=');
    fields.set(i < 0 ? field : field.slice(0, i), i < 0 ? '' : field.slice(i + 1));
  }
  const unknown = [...fields.keys()].filter((key) => !DOCKER_KEYS.includes(key));
  if (unknown.length > 0)
    throw new CommandError(
      `unable to create docker endpoint config: ${unknown.map((k) => `unrecognized config key: ${k}`).join('\n')}`,
    );
  const from = fields.get('from');
  if (from !== undefined) {
    const source =
      from === DEFAULT_CONTEXT
        ? { host: defaultHost(ctx), skipTLSVerify: false }
        : await new ContextStore(ctx.configDir).get(from).catch((err: Error) => {
            throw new CommandError(`unable to create docker endpoint config: ${err.message}`);
          });
    return { host: source.host, skipTLSVerify: source.skipTLSVerify, tls: {} };
  }
  const out = {
    host: base?.host ?? '',
    skipTLSVerify: base?.skipTLSVerify ?? false,
    tls: { ...(base?.tls ?? {}) } as StoredContext['tls'],
  };
  for (const [key, value] of fields) {
    if (key === 'host') {
      parseHost(value);
      out.host = value;
    } else if (key === 'skip-tls-verify') out.skipTLSVerify = value === '' || value === 'true';
    else
      out.tls[TLS_KEYS[key]!] = await readFile(value).catch((err: NodeJS.ErrnoException) => {
        throw new CommandError(`unable to create docker endpoint config: ${err.message}`);
      });
  }
  return out;
}

/** The endpoint of the default context: -H, DOCKER_HOST or the default socket. */
function defaultHost(ctx: CommandContext): string {
  return ctx.connection.host || ctx.io.env.DOCKER_HOST || hostUrl(parseHost(undefined));
}

export const contextCreateCommand: Command = {
  name: 'context create',
  usage: 'context create [OPTIONS] CONTEXT',
  description: 'Create a context',
  flags: [
    { name: 'description', type: 'string', description: 'Description of the context' },
    { name: 'docker', type: 'string', description: 'set the docker endpoint' },
    { name: 'from', type: 'string', description: 'create context from a named context' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const name = args[0]!;
    const store = new ContextStore(ctx.configDir);
    try {
      validateContextName(name);
    } catch (err) {
      throw new CommandError((err as Error).message);
    }
    if (await store.exists(name)) throw new CommandError(`context "${name}" already exists`);
    let base: StoredContext | undefined;
    const from = flags.from as string | undefined;
    if (from !== undefined && from !== DEFAULT_CONTEXT) base = await store.get(from);
    else if (flags.docker === undefined || from === DEFAULT_CONTEXT)
      base = {
        name: DEFAULT_CONTEXT,
        description: '',
        host: defaultHost(ctx),
        skipTLSVerify: false,
        tls: {},
        meta: { Name: DEFAULT_CONTEXT },
      };
    const endpoint = await parseDockerEndpoint(ctx, (flags.docker as string | undefined) ?? '', base);
    await store.save({
      name,
      description: (flags.description as string | undefined) ?? '',
      ...endpoint,
      meta: { Name: name },
    });
    write(ctx.io.stdout, name);
    write(ctx.io.stderr, `Successfully created context "${name}"`);
    return 0;
  },
};

export const contextUpdateCommand: Command = {
  name: 'context update',
  usage: 'context update [OPTIONS] CONTEXT',
  description: 'Update a context',
  flags: [
    { name: 'description', type: 'string', description: 'Description of the context' },
    { name: 'docker', type: 'string', description: 'set the docker endpoint' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const name = args[0]!;
    if (name === DEFAULT_CONTEXT) throw new CommandError(`cannot update the "${DEFAULT_CONTEXT}" context`);
    const store = new ContextStore(ctx.configDir);
    const current = await store.get(name).catch((err: Error) => {
      throw new CommandError(err.message);
    });
    const endpoint =
      flags.docker === undefined ? current : await parseDockerEndpoint(ctx, flags.docker as string, current);
    await store.save({
      ...current,
      host: endpoint.host,
      skipTLSVerify: endpoint.skipTLSVerify,
      tls: endpoint.tls,
      ...(flags.description !== undefined ? { description: flags.description as string } : {}),
    });
    write(ctx.io.stdout, name);
    write(ctx.io.stderr, `Successfully updated context "${name}"`);
    return 0;
  },
};

/** What `context ls --format` templates see, as in the docker CLI. */
interface ContextRow {
  Current: boolean;
  Description: string;
  DockerEndpoint: string;
  Error: string;
  Name: string;
}

async function allContexts(ctx: CommandContext): Promise<StoredContext[]> {
  const stored = await new ContextStore(ctx.configDir).list();
  return [
    {
      name: DEFAULT_CONTEXT,
      description: 'Current DOCKER_HOST based configuration',
      host: defaultHost(ctx),
      skipTLSVerify: false,
      tls: {},
      meta: { Name: DEFAULT_CONTEXT, Metadata: {} },
    },
    ...stored,
  ];
}

export const contextLsCommand: Command = {
  name: 'context ls',
  aliases: ['context list'],
  usage: 'context ls [OPTIONS]',
  description: 'List contexts',
  flags: [
    { name: 'format', type: 'string', description: 'Format output using a custom template' },
    { name: 'quiet', short: 'q', type: 'bool', description: 'Only show context names' },
  ],
  maxArgs: 0,
  async run(ctx, _args, flags) {
    const current = await contextName(ctx.connection, ctx.io.env).catch(() => ctx.contextName);
    const rows: ContextRow[] = (await allContexts(ctx)).map((c) => ({
      Current: c.name === current,
      Description: c.description,
      DockerEndpoint: c.host,
      Error: '',
      Name: c.name,
    }));
    if (ctx.io.env.DOCKER_HOST)
      write(
        ctx.io.stderr,
        'Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.',
      );
    if (flags.quiet) {
      for (const r of rows) write(ctx.io.stdout, r.Name);
      return 0;
    }
    ctx.io.stdout.write(
      formatList(
        rows,
        flags.format as string | undefined,
        '{{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}',
        {
          Name: 'NAME',
          Current: '',
          Description: 'DESCRIPTION',
          DockerEndpoint: 'DOCKER ENDPOINT',
          Error: 'ERROR',
        },
      ),
    );
    return 0;
  },
};

function inspectJson(ctx: CommandContext, c: StoredContext): unknown {
  const isDefault = c.name === DEFAULT_CONTEXT;
  const store = new ContextStore(ctx.configDir);
  return {
    Name: c.name,
    Metadata: isDefault ? {} : (c.meta.Metadata ?? {}),
    Endpoints: { docker: { Host: c.host, SkipTLSVerify: c.skipTLSVerify } },
    TLSMaterial: Object.keys(c.tls).length > 0 ? { docker: TLS_FILES.filter((f) => c.tls[f]) } : {},
    Storage: {
      MetadataPath: isDefault ? '<IN MEMORY>' : store.metaDir(c.name),
      TLSPath: isDefault ? '<IN MEMORY>' : store.tlsDir(c.name),
    },
  };
}

export const contextInspectCommand: Command = {
  name: 'context inspect',
  usage: 'context inspect [OPTIONS] [CONTEXT] [CONTEXT...]',
  description: 'Display detailed information on one or more contexts',
  flags: [
    { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
  ],
  async run(ctx, args, flags) {
    const names = args.length > 0 ? args : [ctx.contextName];
    const all = await allContexts(ctx);
    const out: unknown[] = [];
    for (const name of names) {
      const c = all.find((x) => x.name === name);
      if (!c) throw new CommandError(new ContextStore(ctx.configDir).notFound(name).message);
      out.push(inspectJson(ctx, c));
    }
    if (flags.format) {
      const { renderTemplate } = await import('../template.js');
      for (const item of out) write(ctx.io.stdout, renderTemplate(flags.format as string, item));
      return 0;
    }
    // Docker's JSON escapes <, > and & (Go's encoding/json).
    write(
      ctx.io.stdout,
      JSON.stringify(out, null, 4).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026'),
    );
    return 0;
  },
};

export const contextUseCommand: Command = {
  name: 'context use',
  usage: 'context use CONTEXT',
  description: 'Set the current docker context',
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args) {
    const name = args[0]!;
    const store = new ContextStore(ctx.configDir);
    if (name !== DEFAULT_CONTEXT && !(await store.exists(name)))
      throw new CommandError(store.notFound(name).message);
    await setCurrentContext(ctx.configDir, name);
    write(ctx.io.stdout, name);
    write(ctx.io.stderr, `Current context is now "${name}"`);
    if (name !== DEFAULT_CONTEXT && ctx.io.env.DOCKER_HOST)
      write(
        ctx.io.stderr,
        `Warning: DOCKER_HOST environment variable overrides the active context. To use "${name}", either set the global --context flag, or unset DOCKER_HOST environment variable.`,
      );
    return 0;
  },
};

export const contextShowCommand: Command = {
  name: 'context show',
  usage: 'context show',
  description: 'Print the name of the current context',
  flags: [],
  maxArgs: 0,
  async run(ctx) {
    write(ctx.io.stdout, ctx.contextName);
    return 0;
  },
};

export const contextRmCommand: Command = {
  name: 'context rm',
  aliases: ['context remove'],
  usage: 'context rm CONTEXT [CONTEXT...]',
  description: 'Remove one or more contexts',
  flags: [{ name: 'force', short: 'f', type: 'bool', description: 'Force the removal of a context in use' }],
  minArgs: 1,
  async run(ctx, args, flags) {
    const store = new ContextStore(ctx.configDir);
    const configured = (await readConfigFile(ctx.configDir)).currentContext;
    const errors: string[] = [];
    for (const name of args) {
      try {
        if (name === DEFAULT_CONTEXT) throw new Error(`context "${name}" cannot be removed`);
        if (!(await store.exists(name))) throw store.notFound(name);
        if (name === ctx.contextName || name === configured) {
          if (!flags.force) throw new Error(`context "${name}" is in use, set -f flag to force remove`);
          if (name === configured) await setCurrentContext(ctx.configDir, DEFAULT_CONTEXT);
        }
        await store.remove(name);
        write(ctx.io.stdout, name);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length > 0) throw new CommandError(errors.join('\n'));
    return 0;
  },
};

export const CONTEXT_COMMANDS: Command[] = [
  contextCreateCommand,
  contextLsCommand,
  contextInspectCommand,
  contextUseCommand,
  contextShowCommand,
  contextRmCommand,
  contextUpdateCommand,
  contextExportCommand,
  contextImportCommand,
];
