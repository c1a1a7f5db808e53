import { ApiClient, ApiError, DaemonUnreachableError } from '@ts-container/api';
import { attachCommand } from './commands/attach.js';
import { buildCommand } from './commands/build.js';
import { commitCommand, cpCommand, diffCommand, exportCommand } from './commands/changes.js';
import { completeWords, completionScript } from './commands/completion.js';
import {
  inspectCommand,
  killCommand,
  logsCommand,
  renameCommand,
  restartCommand,
  rmCommand,
  startCommand,
  stopCommand,
  waitCommand,
} from './commands/containers.js';
import { CONTEXT_COMMANDS } from './commands/context.js';
import { dialStdioCommand } from './commands/dial-stdio.js';
import { execCommand, pauseCommand, topCommand, unpauseCommand } from './commands/exec.js';
import { imagePruneCommand, loadCommand, saveCommand, systemDfCommand } from './commands/image-archive.js';
import {
  historyCommand,
  imageInspectCommand,
  imagesCommand,
  importCommand,
  rmiCommand,
  tagCommand,
} from './commands/images.js';
import { MAINTENANCE_COMMANDS } from './commands/maintenance.js';
import { NETWORK_COMMANDS } from './commands/network.js';
import { psCommand } from './commands/ps.js';
import { pullCommand, pushCommand } from './commands/pull.js';
import { loginCommand, logoutCommand, searchCommand } from './commands/registry.js';
import { createCommand, runCommand } from './commands/run.js';
import { statsCommand } from './commands/stats.js';
import { CLIENT_VERSION, infoCommand, versionCommand } from './commands/system.js';
import { VOLUME_COMMANDS } from './commands/volume.js';
import { type CliIO, type Command, CommandError, write } from './context.js';
import { type ConnectionFlags, DEFAULT_CONTEXT, configDir, resolveContext } from './docker-config.js';
import { FlagError, flagHelp, parseFlags } from './flags.js';
import { unreachableMessage } from './messages.js';

export const COMMANDS: Command[] = [
  runCommand,
  createCommand,
  startCommand,
  stopCommand,
  restartCommand,
  killCommand,
  rmCommand,
  waitCommand,
  renameCommand,
  psCommand,
  logsCommand,
  inspectCommand,
  imagesCommand,
  importCommand,
  pullCommand,
  execCommand,
  attachCommand,
  statsCommand,
  pauseCommand,
  unpauseCommand,
  topCommand,
  diffCommand,
  commitCommand,
  exportCommand,
  cpCommand,
  pushCommand,
  loginCommand,
  logoutCommand,
  searchCommand,
  rmiCommand,
  tagCommand,
  historyCommand,
  imageInspectCommand,
  saveCommand,
  loadCommand,
  imagePruneCommand,
  systemDfCommand,
  buildCommand,
  versionCommand,
  infoCommand,
  ...NETWORK_COMMANDS,
  ...MAINTENANCE_COMMANDS,
  ...VOLUME_COMMANDS,
  ...CONTEXT_COMMANDS,
  dialStdioCommand,
];

/** Docker's management commands: a bare name or `--help` prints the group's usage. */
export const GROUPS: Record<string, { description: string; commands: string[] }> = {
  builder: { description: 'Manage builds', commands: ['build'] },
  container: {
    description: 'Manage containers',
    commands:
      'attach commit cp create diff exec export inspect kill logs ls pause port prune rename restart rm run start stats stop top unpause update wait'.split(
        ' ',
      ),
  },
  context: {
    description: 'Manage contexts',
    commands: 'create export import inspect ls rm show update use'.split(' '),
  },
  image: {
    description: 'Manage images',
    commands: 'build history import inspect load ls prune pull push rm save tag'.split(' '),
  },
  network: {
    description: 'Manage networks',
    commands: 'connect create disconnect inspect ls prune rm'.split(' '),
  },
  system: { description: 'Manage tsctr', commands: ['df', 'events', 'info', 'prune'] },
  volume: { description: 'Manage volumes', commands: ['create', 'inspect', 'ls', 'prune', 'rm'] },
};

export interface CliOptions {
  program?: string;
  /**
   * Called when no daemon answers on the default socket: may start one and return true
   * to retry (the app starts `tsctrd` in the background when run as root).
   */
  startDaemon?: (socketPath: string) => Promise<boolean>;
}

const GLOBAL_FLAGS = [
  { name: 'host', short: 'H', type: 'list' as const, description: 'Daemon socket to connect to' },
  { name: 'debug', short: 'D', type: 'bool' as const, description: 'Enable debug mode' },
  { name: 'log-level', short: 'l', type: 'string' as const, description: 'Set the logging level' },
  { name: 'config', type: 'string' as const, description: 'Location of client config files' },
  {
    name: 'context',
    short: 'c',
    type: 'string' as const,
    description:
      'Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "tsctr context use")',
  },
  { name: 'tls', type: 'bool' as const, description: 'Use TLS; implied by --tlsverify' },
  { name: 'tlscacert', type: 'string' as const, description: 'Trust certs signed only by this CA' },
  { name: 'tlscert', type: 'string' as const, description: 'Path to TLS certificate file' },
  { name: 'tlskey', type: 'string' as const, description: 'Path to TLS key file' },
  { name: 'tlsverify', type: 'bool' as const, description: 'Use TLS and verify the remote' },
  { name: 'version', short: 'v', type: 'bool' as const, description: 'Print version information and quit' },
  { name: 'help', type: 'bool' as const, description: 'Print usage' },
];

/** Finds the command for `argv` (also two-word forms such as `container ls`). */
export function findCommand(words: string[]): { command: Command; consumed: number } | undefined {
  for (const take of [2, 1]) {
    const key = words.slice(0, take).join(' ');
    if (words.length < take) continue;
    const command = COMMANDS.find((c) => c.name === key || c.aliases?.includes(key));
    if (command) return { command, consumed: take };
    if (take === 2 && ['container', 'image'].includes(words[0]!)) {
      const single = COMMANDS.find(
        (c) =>
          c.name === words[1] &&
          (words[0] === 'container'
            ? !c.name.startsWith('image')
            : ['images', 'pull', 'rmi', 'tag', 'history', 'import'].includes(c.name)),
      );
      if (single) return { command: single, consumed: 2 };
    }
  }
  return undefined;
}

/** Runs the `tsctr` command line; returns the exit code. Never exits the process itself. */
export async function runCli(argv: string[], io: CliIO, options: CliOptions = {}): Promise<number> {
  const program = options.program ?? 'tsctr';
  let globals: ReturnType<typeof parseFlags>;
  try {
    globals = parseFlags(GLOBAL_FLAGS, argv, { interspersed: false });
  } catch (err) {
    write(io.stderr, `${(err as Error).message}\nSee '${program} --help'.`);
    return 125;
  }
  if (globals.flags.version === true) {
    write(io.stdout, `tsctr version ${CLIENT_VERSION}`);
    return 0;
  }
  const words = globals.args;
  if (words.length === 0 || globals.flags.help === true || words[0] === 'help') {
    write(io.stdout, mainHelp(program));
    return 0;
  }
  if (words[0] === '__complete') return complete(words.slice(1), io, program);
  if (words[0] === 'completion') return completion(words.slice(1), io, program);
  const found = findCommand(words);
  if (!found) {
    const group = GROUPS[words[0]!];
    if (group && (words.length === 1 || words[1] === '--help' || words[1] === 'help')) {
      write(io.stdout, groupHelp(program, words[0]!));
      return 0;
    }
    const typed = group ? words.slice(0, 2).join(' ') : words[0];
    write(
      io.stderr,
      `${program}: unknown command: ${program} ${typed}\n\n${group ? `Usage:  ${program} ${words[0]}\n\nRun '${program} ${words[0]} --help' for more information` : `Run '${program} --help' for more information`}`,
    );
    return 1;
  }
  const { command } = found;
  const rest = words.slice(found.consumed);
  if (rest.includes('--help') && (command.interspersed !== false || rest[0] === '--help')) {
    write(io.stdout, commandHelp(program, command));
    return 0;
  }
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(command.flags, rest, { interspersed: command.interspersed ?? true });
    const n = parsed.args.length;
    if (command.minArgs !== undefined && n < command.minArgs) {
      throw new FlagError(
        `"${program} ${command.name}" requires ${command.minArgs === 1 ? 'at least 1 argument' : `at least ${command.minArgs} arguments`}.\nSee '${program} ${command.name} --help'.\n\nUsage:  ${program} ${command.usage}\n\n${command.description}`,
      );
    }
    if (command.maxArgs !== undefined && n > command.maxArgs) {
      throw new FlagError(
        `"${program} ${command.name}" accepts ${command.maxArgs === 0 ? 'no arguments' : `at most ${command.maxArgs} argument${command.maxArgs === 1 ? '' : 's'}`}.\nSee '${program} ${command.name} --help'.\n\nUsage:  ${program} ${command.usage}\n\n${command.description}`,
      );
    }
  } catch (err) {
    if (err instanceof FlagError && err.message.includes('\nSee ')) write(io.stderr, err.message);
    else write(io.stderr, `${(err as Error).message}\nSee '${program} ${command.name} --help'.`);
    return 125;
  }
  if ((globals.flags.host as string[]).length > 1) {
    write(io.stderr, 'Failed to initialize: unable to resolve docker endpoint: Specify only one -H');
    return 1;
  }
  const connection = connectionFlags(globals.flags);
  let resolved: Awaited<ReturnType<typeof resolveContext>>;
  try {
    resolved = await resolveContext(connection, io.env);
  } catch (err) {
    // The context commands must still work to repair a broken current context.
    if (!command.name.startsWith('context ')) {
      write(io.stderr, (err as Error).message);
      return 1;
    }
    resolved = await resolveContext({ ...connection, context: DEFAULT_CONTEXT }, {});
  }
  const client = new ApiClient(resolved.endpoint);
  const isDefaultSocket = resolved.name === DEFAULT_CONTEXT && !connection.host && !io.env.DOCKER_HOST;
  const errorPrefix = command.errorExitCode === 125 ? `${program}: ` : '';
  const runOnce = () =>
    command.run(
      {
        io,
        client,
        program,
        configDir: configDir(io.env, connection.config),
        contextName: resolved.name,
        connection,
      },
      parsed.args,
      parsed.flags,
    );
  try {
    try {
      return await runOnce();
    } catch (err) {
      if (
        err instanceof DaemonUnreachableError &&
        err.reason === 'unreachable' &&
        isDefaultSocket &&
        client.endpoint.kind === 'unix' &&
        options.startDaemon &&
        (await options.startDaemon(client.endpoint.path))
      ) {
        return await runOnce();
      }
      throw err;
    }
  } catch (err) {
    if (err instanceof CommandError) {
      write(io.stderr, `${errorPrefix}${err.message}`);
      return err.exitCode;
    }
    if (err instanceof ApiError) {
      write(
        io.stderr,
        `${errorPrefix}Error response from daemon: ${err.message}${command.errorExitCode === 125 ? `\n\nRun '${program} ${command.name} --help' for more information` : ''}`,
      );
      return command.errorExitCode ?? 1;
    }
    if (err instanceof DaemonUnreachableError) {
      write(io.stderr, `${errorPrefix}${unreachableMessage(err, program)}`);
      return command.errorExitCode ?? 1;
    }
    write(io.stderr, `${errorPrefix}${(err as Error).message ?? String(err)}`);
    return command.errorExitCode ?? 1;
  }
}

function connectionFlags(flags: Record<string, unknown>): ConnectionFlags {
  const str = (name: string) => {
    const v = flags[name];
    return typeof v === 'string' && v !== '' ? { [name]: v } : {};
  };
  const hosts = flags.host as string[] | undefined;
  return {
    ...(hosts?.length ? { host: hosts.at(-1)! } : {}),
    ...str('context'),
    ...str('tlscacert'),
    ...str('tlscert'),
    ...str('tlskey'),
    ...str('config'),
    tls: flags.tls === true,
    tlsverify: flags.tlsverify === true,
  };
}

async function complete(argv: string[], io: CliIO, program: string): Promise<number> {
  const globals = parseFlags(GLOBAL_FLAGS, argv, { interspersed: false });
  const connection = connectionFlags(globals.flags);
  const resolved = await resolveContext(connection, io.env).catch(() => undefined);
  const client = resolved ? new ApiClient(resolved.endpoint) : undefined;
  for (const word of await completeWords(globals.args, {
    client,
    program,
    configDir: configDir(io.env, connection.config),
    globalFlags: GLOBAL_FLAGS,
    commands: COMMANDS,
    groups: GROUPS,
    findCommand,
  }))
    write(io.stdout, word);
  return 0;
}

function completion(args: string[], io: CliIO, program: string): number {
  const shell = args[0];
  if (shell === undefined || shell === '--help' || !['bash', 'zsh', 'fish'].includes(shell)) {
    write(
      shell === undefined || shell === '--help' ? io.stdout : io.stderr,
      `Usage:  ${program} completion bash|zsh|fish\n\nPrint the shell completion script: source <(${program} completion bash)`,
    );
    return shell === undefined || shell === '--help' ? 0 : 1;
  }
  write(io.stdout, completionScript(shell as 'bash' | 'zsh' | 'fish', program));
  return 0;
}

function groupHelp(program: string, group: string): string {
  const { description, commands } = GROUPS[group]!;
  const rows = commands.map((sub) => [sub, findCommand([group, sub])?.command.description ?? ''] as const);
  const width = Math.max(10, ...rows.map(([sub]) => sub.length));
  return `
Usage:  ${program} ${group} COMMAND

${description}

Commands:
${rows.map(([sub, d]) => `  ${sub.padEnd(width)}  ${d}`).join('\n')}

Run '${program} ${group} COMMAND --help' for more information on a command.`;
}

function mainHelp(program: string): string {
  const top = COMMANDS.filter((c) => !c.name.includes(' ') && !c.hidden);
  const width = Math.max(10, ...top.map((c) => c.name.length));
  return `Usage:  ${program} [OPTIONS] COMMAND

A Docker-compatible container engine

Commands:
${top.map((c) => `  ${c.name.padEnd(width)}  ${c.description}`).join('\n')}
  ${'completion'.padEnd(width)}  Print a shell completion script (bash, zsh or fish)

Management Commands:
${Object.entries(GROUPS)
  .map(([name, g]) => `  ${name.padEnd(width)}  ${g.description}`)
  .join('\n')}

Global Options:
${flagHelp(GLOBAL_FLAGS)}

Run '${program} COMMAND --help' for more information on a command.`;
}

function commandHelp(program: string, command: Command): string {
  return `
Usage:  ${program} ${command.usage}

${command.description}
${command.aliases?.length ? `\nAliases:\n  ${[command.name, ...command.aliases].map((a) => `${program} ${a}`).join(', ')}\n` : ''}${command.flags.length ? `\nOptions:\n${flagHelp(command.flags)}\n` : ''}`;
}
