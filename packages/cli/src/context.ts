import type { Readable, Writable } from 'node:stream';
import type { ApiClient } from '@ts-container/api';
import type { ConnectionFlags } from './docker-config.js';
import type { FlagSpec, FlagValues } from './flags.js';

export interface CliIO {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
  env: Record<string, string | undefined>;
  /** Whether stdout is a terminal (progress bars, tty defaults). */
  stdoutIsTTY: boolean;
}

export interface CommandContext {
  io: CliIO;
  client: ApiClient;
  /** The program name users typed (tsctr), for messages. */
  program: string;
  /** The docker CLI's configuration directory (contexts, config.json). */
  configDir: string;
  /** The context in use (`default` for -H/DOCKER_HOST/the default socket). */
  contextName: string;
  /** The global options that chose the daemon. */
  connection: ConnectionFlags;
}

export interface Command {
  name: string;
  aliases?: string[];
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Left out of the main help (dial-stdio). */
  hidden?: boolean;
  /** False for commands whose trailing words belong to a container command (run, exec). */
  interspersed?: boolean;
  minArgs?: number;
  maxArgs?: number;
  /** Exit code for usage and daemon errors: 125 for run/create/exec as Docker does, else 1. */
  errorExitCode?: number;
  run(ctx: CommandContext, args: string[], flags: FlagValues): Promise<number>;
}

/** An error a command reports as is, with an exit code. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function write(stream: Writable, text: string): void {
  stream.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}
