import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SOCKET, EngineClient } from '@ts-container/api';
import { writeFully } from './output.js';

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
export async function startDaemon(socketPath: string): Promise<boolean> {
  if (process.getuid?.() !== 0 || socketPath !== DEFAULT_SOCKET) return false;
  mkdirSync(DEFAULT_DATA_ROOT, { recursive: true });
  const logPath = join(DEFAULT_DATA_ROOT, 'tsctrd.log');
  const log = openSync(logPath, 'a');
  const [cmd, ...args] = daemonCommand();
  writeFully(2, Buffer.from(`Starting tsctrd in the background (log: ${logPath})\n`));
  const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const client = new EngineClient(socketPath);
  for (let i = 0; i < 100; i++) {
    if (await client.ping()) return true;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  writeFully(2, Buffer.from(`tsctrd did not start; see ${logPath}\n`));
  return false;
}
