import { defaultDockerConfigPath, removeCredentials, saveCredentials } from '@ts-container/registry';
import { type Command, CommandError, write } from '../context.js';

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

export const searchCommand: Command = {
  name: 'search',
  usage: 'search [OPTIONS] TERM',
  description: 'Search Docker Hub for images',
  flags: [
    { name: 'limit', type: 'int', description: 'Max number of search results' },
    { name: 'format', type: 'string', description: 'Pretty-print search using a Go template' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, args) {
    await ctx.client.request('GET', '/images/search', { query: { term: args[0] } });
    return 0;
  },
};
