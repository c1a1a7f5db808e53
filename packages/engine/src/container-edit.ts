import type { HostConfig } from '@ts-container/api';
import type { ContainerRuntime } from '@ts-container/runtime';
import { resourcesOf } from './container-spec.js';
import type { ContainerStore } from './container-store.js';
import { EngineError, conflict, invalidParameter, notFound } from './errors.js';
import type { EventSink } from './lifecycle.js';
import { VALID_CONTAINER_NAME } from './names.js';

export interface ContainerEditDeps {
  store: Pick<ContainerStore, 'get' | 'find' | 'update' | 'nameInUse'>;
  runtime: Pick<ContainerRuntime, 'update'>;
  events: EventSink;
}

/** Changes to a container's record that are not lifecycle: `update`, `rename`, `rm --link`. */
export class ContainerEditor {
  constructor(private readonly deps: ContainerEditDeps) {}

  /**
   * `docker update`: new cgroup limits (applied at once to a running container, through the OCI
   * runtime) and a new restart policy; kept in the container's record for later starts.
   */
  async update(ref: string, changes: Partial<HostConfig>): Promise<{ Warnings: string[] }> {
    const c = this.deps.store.get(ref);
    const next = { ...c.HostConfig };
    for (const key of UPDATABLE_HOST_CONFIG) {
      if (changes[key] !== undefined && changes[key] !== null)
        (next as Record<string, unknown>)[key] = changes[key];
    }
    if (next.Memory && next.MemorySwap && next.MemorySwap > 0 && next.MemorySwap < next.Memory)
      throw invalidParameter('Minimum memoryswap limit should be larger than memory limit, see usage');
    if (changes.RestartPolicy?.Name && changes.RestartPolicy.Name !== 'no' && c.HostConfig.AutoRemove)
      throw invalidParameter(
        'Restart policy cannot be updated because AutoRemove is enabled for the container',
      );
    if (c.State.Running) {
      try {
        await this.deps.runtime.update(c.Id, resourcesOf(next));
      } catch (err) {
        throw new EngineError('system', `Cannot update container ${c.Id}: ${(err as Error).message}`);
      }
    }
    await this.deps.store.update(c.Id, (r) => {
      r.HostConfig = next;
    });
    this.deps.events.emit('update', c);
    return { Warnings: [] };
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.deps.store.get(ref);
    if (!VALID_CONTAINER_NAME.test(newName))
      throw invalidParameter(
        `Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    const fullName = newName.startsWith('/') ? newName : `/${newName}`;
    if (fullName === c.Name)
      throw invalidParameter('Renaming a container with the same name as its current name');
    const taken = this.deps.store.nameInUse(fullName);
    if (taken)
      throw conflict(
        `Conflict. The container name "${fullName}" is already in use by container "${taken.Id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    const record = await this.deps.store.update(c.Id, (r) => {
      r.Name = fullName;
    });
    this.deps.events.emit('rename', record);
  }

  /**
   * `DELETE /containers/PARENT/ALIAS?link=1` (`docker rm --link`): PARENT no longer links to
   * ALIAS; both containers stay.
   */
  async removeLink(name: string): Promise<void> {
    const full = name.startsWith('/') ? name : `/${name}`;
    const slash = full.lastIndexOf('/');
    if (slash === 0) throw conflict('Conflict, cannot remove the default link name of the container');
    const parentName = full.slice(0, slash);
    const alias = full.slice(slash + 1);
    const parent = this.deps.store.find(parentName);
    if (!parent) throw notFound(`Cannot get parent ${parentName} for link name ${full}`);
    const aliasOf = (link: string) => {
      const [ref = '', aliasPart] = link.split(':');
      return (aliasPart ?? ref).split('/').pop();
    };
    const links = parent.HostConfig.Links ?? [];
    if (!links.some((l) => aliasOf(l) === alias)) throw notFound(`No such container: ${name}`);
    await this.deps.store.update(parent.Id, (r) => {
      r.HostConfig.Links = links.filter((l) => aliasOf(l) !== alias);
    });
  }
}

/** What `docker update` may change (Docker refuses nothing else silently: other fields are ignored). */
const UPDATABLE_HOST_CONFIG = [
  'Memory',
  'MemorySwap',
  'MemoryReservation',
  'CpuShares',
  'NanoCpus',
  'CpuQuota',
  'CpuPeriod',
  'CpusetCpus',
  'CpusetMems',
  'PidsLimit',
  'BlkioWeight',
  'RestartPolicy',
] as const;
