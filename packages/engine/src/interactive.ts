import type { ContainerRuntime } from '@ts-container/runtime';
import { execa } from 'execa';
import type { ContainerService } from './containers.js';
import { conflict, invalidParameter } from './errors.js';

export { DEFAULT_DETACH_KEYS, DetachKeyScanner, parseDetachKeys } from './detach-keys.js';
export { type ExecConfig, type ExecIO, ExecService, type ExecSession } from './exec.js';
export { StdinBroker } from './stdin-broker.js';

/** `docker pause`: see {@link ContainerService.pause} (emits `pause`). */
export function pauseContainer(
  deps: { containers: Pick<ContainerService, 'pause'> },
  ref: string,
): Promise<void> {
  return deps.containers.pause(ref);
}

/** `docker unpause`: see {@link ContainerService.unpause} (emits `unpause`). */
export function unpauseContainer(
  deps: { containers: Pick<ContainerService, 'unpause'> },
  ref: string,
): Promise<void> {
  return deps.containers.unpause(ref);
}

export interface TopDeps {
  containers: Pick<ContainerService, 'get'>;
  runtime: Pick<ContainerRuntime, 'pids'>;
}

/** `docker top`: the host's `ps` limited to the container's processes, as Docker does it. */
export async function topContainer(
  deps: TopDeps,
  ref: string,
  psArgs = '-ef',
): Promise<{ Titles: string[]; Processes: string[][] }> {
  const c = deps.containers.get(ref);
  if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
  const pids = new Set((await deps.runtime.pids(c.Id)).map(String));
  const r = await execa('ps', psArgs.split(/\s+/).filter(Boolean), { reject: false });
  if (r.exitCode !== 0) throw invalidParameter(`Error running ps: ${r.stderr.trim()}`);
  const [header = '', ...lines] = r.stdout.split('\n');
  const titles = header.trim().split(/\s+/);
  const pidColumn = titles.indexOf('PID');
  if (pidColumn < 0) throw invalidParameter(`Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (!pids.has(fields[pidColumn] ?? '')) continue;
    // The last column (the command) keeps its spaces.
    processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  return { Titles: titles, Processes: processes };
}
