import { readFile, writeFile } from 'node:fs/promises';
import { type Command, CommandError, write } from '../context.js';
import {
  ContextStore,
  DEFAULT_CONTEXT,
  type StoredContext,
  TLS_FILES,
  type TlsFile,
  endpointOf,
  validateContextName,
} from '../docker-config.js';
import { readTar, writeTar } from '../tar.js';

// `context export` and `context import`: the docker CLI's context archive, so one CLI reads the
// other's.

/**
 * `context export NAME [FILE]`: the docker CLI's archive (`meta.json`, `tls/docker/*.pem`),
 * to `NAME.dockercontext` by default or stdout for `-`.
 */
export const contextExportCommand: Command = {
  name: 'context export',
  usage: 'context export [OPTIONS] CONTEXT [FILE|-]',
  description: 'Export a context to a tar archive FILE or a tar stream on STDOUT.',
  flags: [],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, args) {
    const name = args[0]!;
    if (name === DEFAULT_CONTEXT) throw new CommandError('cannot export the default context');
    const store = new ContextStore(ctx.configDir);
    const c = await store.get(name).catch((err: Error) => {
      throw new CommandError(err.message);
    });
    const meta = await readFile(`${store.metaDir(name)}/meta.json`);
    const entries: Parameters<typeof writeTar>[0] = [{ name: 'meta.json', data: meta, mode: 0o644 }];
    const files = TLS_FILES.filter((f) => c.tls[f]);
    if (files.length > 0) {
      entries.push({ name: 'tls/', mode: 0o700 }, { name: 'tls/docker/', mode: 0o700 });
      for (const f of files) entries.push({ name: `tls/docker/${f}`, data: c.tls[f]!, mode: 0o600 });
    }
    const tar = writeTar(entries);
    const file = args[1] ?? `${name}.dockercontext`;
    if (file === '-') {
      ctx.io.stdout.write(tar);
      return 0;
    }
    await writeFile(file, tar, { mode: 0o600 });
    write(ctx.io.stderr, `Written file "${file}"`);
    return 0;
  },
};

export const contextImportCommand: Command = {
  name: 'context import',
  usage: 'context import [OPTIONS] CONTEXT FILE|-',
  description: 'Import a context from a tar or zip file',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, args) {
    const [name, file] = args as [string, string];
    try {
      validateContextName(name);
    } catch (err) {
      throw new CommandError((err as Error).message);
    }
    const store = new ContextStore(ctx.configDir);
    if (await store.exists(name)) throw new CommandError(`context "${name}" already exists`);
    let data: Buffer;
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const c of ctx.io.stdin) chunks.push(c as Buffer);
      data = Buffer.concat(chunks);
    } else data = await readFile(file);
    const entries = readTar(data);
    const metaEntry = entries.find((e) => e.name === 'meta.json');
    if (!metaEntry?.data) throw new CommandError('invalid context archive: no meta.json');
    const parsed = store.fromMeta(JSON.parse(metaEntry.data.toString('utf8')), {});
    const tls: StoredContext['tls'] = {};
    for (const e of entries) {
      const m = /^tls\/docker\/(ca|cert|key)\.pem$/.exec(e.name);
      if (m && e.data) tls[`${m[1]}.pem` as TlsFile] = e.data;
    }
    await store.save({ ...parsed, name, tls, meta: { ...parsed.meta, Name: name } });
    endpointOf({ ...parsed, tls });
    write(ctx.io.stdout, name);
    write(ctx.io.stderr, `Successfully imported context "${name}"`);
    return 0;
  },
};
