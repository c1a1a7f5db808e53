import { ApiError, DaemonUnreachableError, EngineClient, socketPathFromHost } from '@ts-container/api';
import { attachCommand } from './commands/attach.js';
import { buildCommand } from './commands/build.js';
import { commitCommand, cpCommand, diffCommand, exportCommand } from './commands/changes.js';
import {
  inspectCommand,
  killCommand,
  logsCommand,
  psCommand,
  renameCommand,
  restartCommand,
  rmCommand,
  startCommand,
  stopCommand,
  waitCommand,
} from './commands/containers.js';
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
import { pullCommand, pushCommand } from './commands/pull.js';
import { loginCommand, logoutCommand, searchCommand } from './commands/registry.js';
import { createCommand, runCommand } from './commands/run.js';
import { statsCommand } from './commands/stats.js';
import { CLIENT_VERSION, infoCommand, versionCommand } from './commands/system.js';
import { VOLUME_COMMANDS } from './commands/volume.js';
import { type CliIO, type Command, CommandError, write } from './context.js';
import { FlagError, flagHelp, parseFlags } from './flags.js';

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
];

export interface CliOptions {
  program?: string;
  /**
   * Called when no daemon answers on the default socket: may start one and return true
   * to retry (the app starts `tsctrd` in the background when run as root).
   */
  startDaemon?: (socketPath: string) => Promise<boolean>;
}

const GLOBAL_FLAGS = [
  { name: 'host', short: 'H', type: 'string' as const, description: 'Daemon socket to connect to' },
  { name: 'debug', short: 'D', type: 'bool' as const, description: 'Enable debug mode' },
  { name: 'log-level', short: 'l', type: 'string' as const, description: 'Set the logging level' },
  { name: 'config', type: 'string' as const, description: 'Location of client config files' },
  { name: 'version', short: 'v', type: 'bool' as const, description: 'Print version information and quit' },
  { name: 'help', type: 'bool' as const, description: 'Print usage' },
];

/** Finds the command for `argv` (also two-word forms such as `container ls`). */
function findCommand(words: string[]): { command: Command; consumed: number } | undefined {
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
  const found = findCommand(words);
  if (!found) {
    write(io.stderr, `${program}: '${words[0]}' is not a ${program} command.\nSee '${program} --help'`);
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
  const host = (globals.flags.host as string | undefined) ?? io.env.DOCKER_HOST;
  let socketPath: string;
  try {
    socketPath = socketPathFromHost(host);
  } catch (err) {
    write(io.stderr, (err as Error).message);
    return 1;
  }
  const client = new EngineClient(socketPath);
  const errorPrefix = command.errorExitCode === 125 ? `${program}: ` : '';
  const runOnce = () => command.run({ io, client, program }, parsed.args, parsed.flags);
  try {
    try {
      return await runOnce();
    } catch (err) {
      if (
        err instanceof DaemonUnreachableError &&
        host === undefined &&
        options.startDaemon &&
        (await options.startDaemon(socketPath))
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
      write(io.stderr, `${errorPrefix}${err.message.replace(/docker daemon/gi, `${program} daemon`)}`);
      return command.errorExitCode ?? 1;
    }
    write(io.stderr, `${errorPrefix}${(err as Error).message ?? String(err)}`);
    return command.errorExitCode ?? 1;
  }
}

function mainHelp(program: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage:  ${program} [OPTIONS] COMMAND

A Docker-compatible container engine

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.description}`).join('\n')}

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
