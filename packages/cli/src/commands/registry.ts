import { defaultDockerConfigPath, removeCredentials, saveCredentials } from '@ts-container/registry';
import { type Command, CommandError, write } from '../context.js';
import { formatList } from '../format.js';
import { filtersQuery } from '../prompt.js';
import { registryAuthHeader } from './pull.js';

function registryHost(server: string | undefined): string {
  if (!server) return 'docker.io';
  return server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

async function readAllStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks).toString('utf8');
}

export const loginCommand: Command = {
  name: 'login',
  usage: 'login [OPTIONS] [SERVER]',
  description: 'Authenticate to a registry',
  flags: [
    { name: 'username', short: 'u', type: 'string', description: 'Username' },
    { name: 'password', short: 'p', type: 'string', description: 'Password' },
    { name: 'password-stdin', type: 'bool', description: 'Take the password from stdin' },
  ],
  maxArgs: 1,
  async run(ctx, args, flags) {
    const host = registryHost(args[0]);
    const username = flags.username as string | undefined;
    let password = flags.password as string | undefined;
    if (flags['password-stdin'] === true) {
      if (password !== undefined)
        throw new CommandError('--password and --password-stdin are mutually exclusive');
      if (username === undefined) throw new CommandError('Must provide --username with --password-stdin');
      password = (await readAllStdin(ctx.io.stdin)).replace(/\r?\n$/, '');
    } else if (password !== undefined) {
      write(ctx.io.stderr, 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.');
    }
    if (username === undefined || password === undefined) {
      throw new CommandError('Error: Cannot perform an interactive login from a non TTY device');
    }
    await ctx.client.request('POST', '/auth', { body: { username, password, serveraddress: host } });
    const path = defaultDockerConfigPath(ctx.io.env);
    await saveCredentials(path, host, username, password);
    write(ctx.io.stderr, `WARNING! Your credentials are stored unencrypted in '${path}'.`);
    write(ctx.io.stdout, 'Login Succeeded');
    return 0;
  },
};

export const logoutCommand: Command = {
  name: 'logout',
  usage: 'logout [SERVER]',
  description: 'Log out from a registry',
  flags: [],
  maxArgs: 1,
  async run(ctx, args) {
    const host = registryHost(args[0]);
    const removed = await removeCredentials(defaultDockerConfigPath(ctx.io.env), host);
    write(ctx.io.stdout, removed ? `Removing login credentials for ${host}` : `Not logged in to ${host}`);
    return 0;
  },
};

interface SearchResultJson {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

/** What `search --format` templates see, as in the docker CLI. */
class SearchRow {
  constructor(
    private readonly r: SearchResultJson,
    private readonly noTrunc: boolean,
  ) {}
  get Name() {
    return this.r.name;
  }
  get Description() {
    const d = this.r.description.replace(/\n/g, ' ');
    return this.noTrunc || [...d].length <= 45 ? d : `${[...d].slice(0, 44).join('')}…`;
  }
  get StarCount() {
    return String(this.r.star_count);
  }
  get IsOfficial() {
    return this.r.is_official ? '[OK]' : '';
  }
  get IsAutomated() {
    return this.r.is_automated ? '[OK]' : '';
  }
}

export const searchCommand: Command = {
  name: 'search',
  usage: 'search [OPTIONS] TERM',
  description: 'Search Docker Hub for images',
  flags: [
    { name: 'limit', type: 'int', description: 'Max number of search results' },
    { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', description: 'Pretty-print search using a Go template' },
    { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args, flags) {
    const term = args[0]!;
    const slash = term.indexOf('/');
    const domain = slash > 0 ? term.slice(0, slash) : 'docker.io';
    const results = await ctx.client.request<SearchResultJson[]>('GET', '/images/search', {
      query: {
        term,
        limit: flags.limit as number | undefined,
        ...filtersQuery(flags.filter as string[]),
      },
      headers: await registryAuthHeader(ctx, domain),
    });
    const rows = results.map((r) => new SearchRow(r, flags['no-trunc'] === true));
    ctx.io.stdout.write(
      formatList(
        rows,
        flags.format as string | undefined,
        '{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}',
        {
          Name: 'NAME',
          Description: 'DESCRIPTION',
          StarCount: 'STARS',
          IsOfficial: 'OFFICIAL',
          IsAutomated: 'AUTOMATED',
        },
      ),
    );
    return 0;
  },
};
