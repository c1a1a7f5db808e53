#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isatty } from 'node:tty';
import { fileURLToPath } from 'node:url';
import { runCli } from '@ts-container/cli';
import { LazyOutput } from './output.js';

const DEFAULT_DATA_ROOT = '/var/lib/tsctr';

/**
 * `tsctrd` beside us in the monorepo (from dist/ or, for the binary Bun compiles, compiled/),
 * run by this Node or, from that binary, by the `node` on the PATH; else `tsctrd` on the PATH.
 */
function daemonCommand(): string[] {
  const compiled = process.versions.bun !== undefined;
  const here = compiled ? dirname(process.execPath) : dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, '../../daemon/dist/index.js');
  if (!existsSync(sibling)) return ['tsctrd'];
  return [compiled ? 'node' : process.execPath, sibling];
}

/**
 * A first-time root user needs no separate step: when nothing answers on the default
 * socket, start the daemon in the background (logging under the data root) and wait for it.
 */
async function startDaemon(socketPath: string): Promise<boolean> {
  // Loaded here: `tsctr --version` has no use for the API client.
  const { DEFAULT_SOCKET, EngineClient } = await import('@ts-container/api');
  if (process.getuid?.() !== 0 || socketPath !== DEFAULT_SOCKET) return false;
  mkdirSync(DEFAULT_DATA_ROOT, { recursive: true });
  const logPath = join(DEFAULT_DATA_ROOT, 'tsctrd.log');
  const log = openSync(logPath, 'a');
  const [cmd, ...args] = daemonCommand();
  process.stderr.write(`Starting tsctrd in the background (log: ${logPath})\n`);
  const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const client = new EngineClient(socketPath);
  for (let i = 0; i < 100; i++) {
    if (await client.ping()) return true;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stderr.write(`tsctrd did not start; see ${logPath}\n`);
  return false;
}

// `tsctr events | head`: a reader that went away ends the command quietly, as the docker CLI does.
const stdout = new LazyOutput(
  1,
  () => process.stdout,
  (err) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  },
);
const stderr = new LazyOutput(
  2,
  () => process.stderr,
  (err) => {
    throw err;
  },
);

// No top-level await: the bundle is CommonJS (see tsup.config.ts).
void runCli(
  process.argv.slice(2),
  {
    stdout: stdout.writable(),
    stderr: stderr.writable(),
    // Made on first use: most commands never read stdin, and opening it costs start-up time.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
    // Asked on first use: node:tty loads Bun's streams.
    get stdoutIsTTY() {
      return isatty(1);
    },
  },
  { program: 'tsctr', startDaemon },
).then((code) => {
  // Let pending writes reach a pipe before exiting.
  if (stdout.made) stdout.real().write('', () => process.exit(code));
  else process.exit(code);
});
