import { findCommand, findEntry, loadCommand, loadCommands } from './command-table.js';
import { type CliIO, type Command, write } from './context.js';
import { FlagError, flagHelp, parseFlags } from './flags.js';
import { CLIENT_VERSION } from './version.js';

/** Every command (loads all their modules: a command line loads only its command's). */
export { findCommand, loadCommands };

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

export const GLOBAL_FLAGS = [
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
    write(io.stdout, await mainHelp(program));
    return 0;
  }
  if (words[0] === '__complete')
    return (await import('./run-command.js')).complete(words.slice(1), io, program, GLOBAL_FLAGS, GROUPS);
  if (words[0] === 'completion') return await completion(words.slice(1), io, program);
  const found = findEntry(words);
  if (!found) {
    const group = GROUPS[words[0]!];
    if (group && (words.length === 1 || words[1] === '--help' || words[1] === 'help')) {
      write(io.stdout, await groupHelp(program, words[0]!));
      return 0;
    }
    const typed = group ? words.slice(0, 2).join(' ') : words[0];
    write(
      io.stderr,
      `${program}: unknown command: ${program} ${typed}\n\n${group ? `Usage:  ${program} ${words[0]}\n\nRun '${program} ${words[0]} --help' for more information` : `Run '${program} --help' for more information`}`,
    );
    return 1;
  }
  const command = await loadCommand(found.entry);
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
  return (await import('./run-command.js')).runCommand(command, parsed, globals.flags, io, options, program);
}

async function completion(args: string[], io: CliIO, program: string): Promise<number> {
  const shell = args[0];
  if (shell === undefined || shell === '--help' || !['bash', 'zsh', 'fish'].includes(shell)) {
    write(
      shell === undefined || shell === '--help' ? io.stdout : io.stderr,
      `Usage:  ${program} completion bash|zsh|fish\n\nPrint the shell completion script: source <(${program} completion bash)`,
    );
    return shell === undefined || shell === '--help' ? 0 : 1;
  }
  write(
    io.stdout,
    (await import('./commands/completion.js')).completionScript(shell as 'bash' | 'zsh' | 'fish', program),
  );
  return 0;
}

async function groupHelp(program: string, group: string): Promise<string> {
  const { description, commands } = GROUPS[group]!;
  const all = await loadCommands();
  const rows = commands.map(
    (sub) => [sub, findCommand([group, sub], all)?.command.description ?? ''] as const,
  );
  const width = Math.max(10, ...rows.map(([sub]) => sub.length));
  return `
Usage:  ${program} ${group} COMMAND

${description}

Commands:
${rows.map(([sub, d]) => `  ${sub.padEnd(width)}  ${d}`).join('\n')}

Run '${program} ${group} COMMAND --help' for more information on a command.`;
}

async function mainHelp(program: string): Promise<string> {
  const top = (await loadCommands()).filter((c) => !c.name.includes(' ') && !c.hidden);
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
