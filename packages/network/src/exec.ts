import type { Logger } from '@ts-container/common';
import { execa } from 'execa';
import { systemError } from './errors.js';

export interface RunOptions {
  input?: string;
  logger?: Logger;
}

/** Runs a system tool (ip, nft, iptables...) and turns a failure into a NetworkError carrying its stderr. */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  options.logger?.debug('exec', { file, args });
  const result = await execa(file, args, {
    reject: false,
    stripFinalNewline: true,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
  if (result.failed) {
    const detail = String(result.stderr || result.stdout || result.shortMessage).trim();
    throw systemError(`${file} ${args.join(' ')}: ${detail}`, result);
  }
  return String(result.stdout);
}

/** Like run() but reports failure as false instead of throwing, for probes and best-effort cleanup. */
export async function tryRun(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<boolean> {
  try {
    await run(file, args, options);
    return true;
  } catch {
    return false;
  }
}

/** Whether an executable is on PATH (checked by running it with a harmless flag). */
export async function hasCommand(
  file: string,
  probeArgs: readonly string[] = ['--version'],
): Promise<boolean> {
  const result = await execa(file, probeArgs, { reject: false });
  return result.exitCode === 0;
}
