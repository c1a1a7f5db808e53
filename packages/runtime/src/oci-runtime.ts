import { constants, access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { RuntimeError } from './errors.js';

export type OciRuntimeName = 'runc' | 'crun';

export interface OciRuntimeInfo {
  name: OciRuntimeName;
  path: string;
}

export interface OciContainerState {
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  pid: number;
  bundle: string;
}

export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '')
    .split(delimiter)
    .concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory; keep looking
    }
  }
  return undefined;
}

/**
 * Picks the OCI runtime: the one asked for, else runc, else crun (runc first because crun 1.8
 * refuses cgroup v1 hybrid layouts that runc handles).
 */
export async function resolveOciRuntime(preferred?: OciRuntimeName | string): Promise<OciRuntimeInfo> {
  const candidates: OciRuntimeName[] =
    preferred === 'crun' ? ['crun'] : preferred === 'runc' ? ['runc'] : ['runc', 'crun'];
  if (preferred?.includes('/')) {
    const name: OciRuntimeName = preferred.endsWith('crun') ? 'crun' : 'runc';
    return { name, path: preferred };
  }
  for (const name of candidates) {
    const path = await findExecutable(name);
    if (path) return { name, path };
  }
  throw new RuntimeError(
    'unavailable',
    `no OCI runtime found (looked for ${candidates.join(', ')}): install one with "apt-get install runc" (or crun)`,
  );
}

/** Drives an OCI runtime binary with its own state root. */
export class OciRuntime {
  constructor(
    readonly info: OciRuntimeInfo,
    /** The runtime's `--root` state directory, under the engine's exec root. */
    readonly stateRoot: string,
  ) {}

  /** Global arguments that go before every subcommand. */
  globalArgs(): string[] {
    return ['--root', this.stateRoot];
  }

  private async run(args: string[], allowFailure = false) {
    const result = await execa(this.info.path, [...this.globalArgs(), ...args], { reject: false });
    if (result.exitCode !== 0 && !allowFailure) {
      throw new RuntimeError(
        'system',
        `${this.info.name} ${args[0]} failed: ${(result.stderr || result.stdout).trim()}`,
      );
    }
    return result;
  }

  async state(id: string): Promise<OciContainerState | undefined> {
    const result = await this.run(['state', id], true);
    if (result.exitCode !== 0) return undefined;
    return JSON.parse(result.stdout) as OciContainerState;
  }

  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  async kill(id: string, signal: string | number, all = false): Promise<void> {
    await this.run(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  async delete(id: string, force = false): Promise<void> {
    const result = await this.run(['delete', ...(force ? ['--force'] : []), id], true);
    if (result.exitCode !== 0 && !/does not exist|not exist/i.test(result.stderr)) {
      throw new RuntimeError('system', `${this.info.name} delete failed: ${result.stderr.trim()}`);
    }
  }

  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  /** Host PIDs of every process in the container. */
  async pids(id: string): Promise<number[]> {
    const result = await this.run(['ps', '--format', 'json', id]);
    return (JSON.parse(result.stdout || '[]') as number[] | null) ?? [];
  }
}
