import { networksOf } from './bridge-network-settings.js';
import type { ContainerRecord } from './container-store.js';
import { conflict, invalidParameter, notFound } from './errors.js';

// Other containers a container's networking refers to: `--network container:NAME` and `--link`.

/** How the networking finds other containers (container:NAME, --link) and whether they run. */
export interface ContainerLookup {
  find(ref: string): ContainerRecord | undefined;
  all(): ContainerRecord[];
}

/**
 * The running container whose namespace `--network container:<ref>` joins; for container:A where
 * A itself joined B, that is B.
 */
export function namespaceOwner(
  c: ContainerRecord,
  ref: string,
  containers: ContainerLookup | undefined,
): ContainerRecord {
  const found = containers?.find(ref);
  if (!found) throw notFound(`No such container: ${ref}`);
  let other: ContainerRecord = found;
  if (other.Id === c.Id) throw invalidParameter('cannot join own network');
  for (let hops = 0; hops < 10 && (other.HostConfig.NetworkMode ?? '').startsWith('container:'); hops++) {
    const next: ContainerRecord | undefined = containers?.find(
      (other.HostConfig.NetworkMode ?? '').slice('container:'.length),
    );
    if (!next) break;
    other = next;
  }
  if (!other.State.Running) throw conflict(`cannot join network of a non running container: ${ref}`);
  return other;
}

/** `--link name[:alias]` on the default bridge: /etc/hosts entries for running containers. */
export function linkHostEntries(
  c: ContainerRecord,
  containers: ContainerLookup | undefined,
): { ipAddress: string; names: string[] }[] {
  const out: { ipAddress: string; names: string[] }[] = [];
  for (const link of c.HostConfig.Links ?? []) {
    const [ref = '', alias] = link.split(':');
    const target = containers?.find(ref);
    if (!target) throw invalidParameter(`could not get container for ${ref}`);
    const name = target.Name.slice(1);
    if (!target.State.Running)
      throw invalidParameter(
        `Cannot link to a non running container: ${target.Name} AS ${c.Name}/${alias ?? name}`,
      );
    const ip = (networksOf(target).bridge?.IPAddress as string | undefined) ?? '';
    if (!ip)
      throw invalidParameter(`Cannot link to ${target.Name}, as it does not belong to the default network`);
    const aliasName = (alias ?? name).replace(/^\//, '').split('/').pop() ?? name;
    out.push({ ipAddress: ip, names: [...new Set([aliasName, target.Id.slice(0, 12), name])] });
  }
  return out;
}
