import { closeSync, openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { z } from 'zod';

/** One line of a user namespace's uid_map or gid_map. */
export const IdMapSchema = z.object({
  containerID: z.number().int().nonnegative(),
  hostID: z.number().int().nonnegative(),
  size: z.number().int().positive(),
});
export type IdMap = z.infer<typeof IdMapSchema>;

/** How the ids inside a container map to ids on the host (as in an OCI spec's linux section). */
export const IdMappingsSchema = z.object({
  uidMappings: z.array(IdMapSchema).min(1),
  gidMappings: z.array(IdMapSchema).min(1),
});
export type IdMappings = z.infer<typeof IdMappingsSchema>;

/** The host id of container id `id`, or undefined when the mappings do not cover it. */
export function hostIdOf(maps: readonly IdMap[], id: number): number | undefined {
  for (const m of maps)
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + id - m.containerID;
  return undefined;
}

/** The container id of host id `id`, or undefined when no mapping reaches it. */
export function containerIdOf(maps: readonly IdMap[], id: number): number | undefined {
  for (const m of maps) if (id >= m.hostID && id < m.hostID + m.size) return m.containerID + id - m.hostID;
  return undefined;
}

/** The overflow id the kernel shows for unmapped owners (`nobody`). */
export const OVERFLOW_ID = 65534;

/**
 * An open user namespace with the given mappings, for idmapped mounts (mount_setattr takes the
 * namespace, not the mappings). Node cannot unshare itself, so a short-lived `unshare --user`
 * child makes the namespace, the daemon writes its maps (as root of the parent namespace) and
 * keeps a file descriptor to it; the child is then killed, the namespace lives on the fd.
 */
export class UserNamespaceHandle {
  private constructor(
    readonly fd: number,
    readonly mappings: IdMappings,
  ) {}

  static async create(mappings: IdMappings): Promise<UserNamespaceHandle> {
    IdMappingsSchema.parse(mappings);
    const child = execa('unshare', ['--user', '--', 'sh', '-c', 'echo ready; exec sleep 60'], {
      stdin: 'ignore',
      reject: false,
    });
    try {
      const ready = await Promise.race([
        new Promise<true>((resolve) => child.stdout?.once('data', () => resolve(true))),
        child,
      ]);
      if (ready !== true) {
        throw new Error(`unshare --user failed (exit ${ready.exitCode}): ${ready.stderr || ready.message}`);
      }
      const line = (maps: IdMap[]) => maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
      await writeFile(`/proc/${child.pid}/uid_map`, line(mappings.uidMappings));
      await writeFile(`/proc/${child.pid}/gid_map`, line(mappings.gidMappings));
      return new UserNamespaceHandle(openSync(`/proc/${child.pid}/ns/user`, 'r'), mappings);
    } finally {
      child.kill('SIGKILL');
      await child;
    }
  }

  /** The mapped root: who owns a container's `/` on the host. */
  get rootOwner(): { uid: number; gid: number } {
    return {
      uid: hostIdOf(this.mappings.uidMappings, 0) ?? OVERFLOW_ID,
      gid: hostIdOf(this.mappings.gidMappings, 0) ?? OVERFLOW_ID,
    };
  }

  close(): void {
    closeSync(this.fd);
  }
}
