import { ApiClient, ApiError, DaemonUnreachableError } from '@ts-container/api';
import type { CliOptions } from './cli.js';
import { findCommand, loadCommands } from './command-table.js';
import { type CliIO, type Command, CommandError, write } from './context.js';
import { type ConnectionFlags, DEFAULT_CONTEXT, configDir, resolveContext } from './docker-config.js';
import { type FlagSpec, type FlagValues, parseFlags } from './flags.js';
import { unreachableMessage } from './messages.js';

// The half of the command line that talks to a daemon, loaded once a command is parsed: the
// API client, contexts and messages are not `--version`'s or `--help`'s to load.

/** Runs a parsed command against the daemon its global flags, DOCKER_HOST or context choose. */
export async function runCommand(
  command: Command,
  parsed: { args: string[]; flags: FlagValues },
  globalFlags: FlagValues,
  io: CliIO,
  options: CliOptions,
  program: string,
): Promise<number> {
  if ((globalFlags.host as string[]).length > 1) {
    write(io.stderr, 'Failed to initialize: unable to resolve docker endpoint: Specify only one -H');
    return 1;
  }
  const connection = connectionFlags(globalFlags);
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

function connectionFlags(flags: FlagValues): ConnectionFlags {
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

/** `tsctr __complete WORDS…`: the shell completion's candidates, one a line. */
export async function complete(
  argv: string[],
  io: CliIO,
  program: string,
  globalFlagSpecs: FlagSpec[],
  groups: Record<string, { commands: string[] }>,
): Promise<number> {
  const globals = parseFlags(globalFlagSpecs, argv, { interspersed: false });
  const connection = connectionFlags(globals.flags);
  const resolved = await resolveContext(connection, io.env).catch(() => undefined);
  const client = resolved ? new ApiClient(resolved.endpoint) : undefined;
  const commands = await loadCommands();
  const { completeWords } = await import('./commands/completion.js');
  for (const word of await completeWords(globals.args, {
    client,
    program,
    configDir: configDir(io.env, connection.config),
    globalFlags: globalFlagSpecs,
    commands,
    groups,
    findCommand: (words) => findCommand(words, commands),
  }))
    write(io.stdout, word);
  return 0;
}
