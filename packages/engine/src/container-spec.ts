import { chown, lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HostConfig } from '@ts-container/api';
import { resolveInRoot } from '@ts-container/image';
import { buildHostsFile } from '@ts-container/network';
import { type ContainerSpecInput, type Resources, findExecutable, hostDevice } from '@ts-container/runtime';
import { type MountOptions, UserNamespaceHandle } from '@ts-container/unionfs';
import type { ContainerRecord } from './container-store.js';
import { invalidParameter } from './errors.js';
import { containerCgroupPath, linuxSpecOptions } from './linux-options.js';
import { copyUpIntoVolume, ensureBindSource, resolveMountPoints } from './mount-points.js';
import type { NetworkNamespace } from './networking.js';
import { resolveUser } from './user.js';
import type { VolumeService } from './volumes.js';

/** Where `--init` puts the init binary, as Docker does. */
const INIT_PATH = '/sbin/docker-init';

export interface ContainerSpecDeps {
  /** Finds a container by reference (links, `--volumes-from`). */
  find(ref: string): ContainerRecord | undefined;
  get(ref: string): ContainerRecord;
  volumes: VolumeService;
  /** Prefix of every container's cgroup, e.g. `/tsctr`. */
  cgroupParent: string;
}

/**
 * Turns a container's record into what the OCI runtime runs: its /etc files, its mounts
 * (volumes copied up, binds made), its user namespace, and the OCI spec input.
 */
export class ContainerSpecBuilder {
  private readonly userNamespaces = new Map<string, Promise<UserNamespaceHandle>>();

  constructor(private readonly deps: ContainerSpecDeps) {}

  /** The container's cgroup, relative to each cgroup v1 hierarchy's root. */
  cgroupPath(id: string, parent?: string): string {
    return containerCgroupPath(id, this.deps.cgroupParent, parent);
  }

  /** How container `c`'s filesystem is mounted: through its user namespace when it has one. */
  async mountOptions(c: ContainerRecord): Promise<MountOptions> {
    if (!c.IdMappings) return {};
    const key = JSON.stringify(c.IdMappings);
    let handle = this.userNamespaces.get(key);
    if (!handle) {
      handle = UserNamespaceHandle.create(c.IdMappings);
      this.userNamespaces.set(key, handle);
      // A failed attempt is not kept: the next start tries again.
      handle.catch(() => this.userNamespaces.delete(key));
    }
    return { idmap: await handle };
  }

  /** Gives `path` to the container's mapped root when the daemon made it (owned by host root). */
  private async ownByMappedRoot(c: ContainerRecord, path: string): Promise<void> {
    if (!c.IdMappings) return;
    const { idmap } = await this.mountOptions(c);
    const st = await lstat(path);
    if (idmap && st.uid === 0 && st.gid === 0) await chown(path, idmap.rootOwner.uid, idmap.rootOwner.gid);
  }

  async specFor(c: ContainerRecord, rootfs: string, network: NetworkNamespace): Promise<ContainerSpecInput> {
    const hc = c.HostConfig;
    const { blockIO, ...linux } = await linuxSpecOptions(hc);
    const user = await resolveUser(rootfs, c.Config.User, hc.GroupAdd ?? []);
    const cwd = c.Config.WorkingDir || '/';
    if (cwd !== '/') {
      // Resolved inside the rootfs: an image's WORKDIR through a symlink must not make host dirs.
      const full = await resolveInRoot(rootfs, cwd);
      const made = await mkdir(full, { recursive: true });
      // Every directory made for the WORKDIR is the container root's, not just the first.
      if (made !== undefined) {
        for (let dir = full; dir.length >= made.length; dir = dirname(dir))
          await this.ownByMappedRoot(c, dir);
      }
    }
    for (const file of [c.HostnamePath, c.HostsPath, c.ResolvConfPath]) await this.ownByMappedRoot(c, file);
    const mounts: NonNullable<ContainerSpecInput['mounts']> = [
      { destination: '/etc/hostname', source: c.HostnamePath, type: 'bind', options: ['rbind', 'rprivate'] },
      { destination: '/etc/hosts', source: c.HostsPath, type: 'bind', options: ['rbind', 'rprivate'] },
      {
        destination: '/etc/resolv.conf',
        source: c.ResolvConfPath,
        type: 'bind',
        options: ['rbind', 'rprivate'],
      },
    ];
    // Containers created before mount points were recorded kept only their Binds.
    const points =
      c.MountPoints.length > 0 || !hc.Binds?.length
        ? c.MountPoints
        : await resolveMountPoints({}, { Binds: hc.Binds }, this.deps.volumes, (ref) => this.deps.get(ref));
    for (const p of points) {
      if (p.Type === 'tmpfs') {
        mounts.push({
          destination: p.Destination,
          source: 'tmpfs',
          type: 'tmpfs',
          options: ['nosuid', 'nodev', 'noexec', ...(p.RW ? [] : ['ro']), ...p.Options],
        });
        continue;
      }
      let source = p.Source;
      if (p.Type === 'volume' && p.Name) {
        source = await this.deps.volumes.mountpoint(p.Name);
        await copyUpIntoVolume(rootfs, p, source);
        // An empty new volume belongs to the mapped root, as under dockerd's remapped root.
        if ((await readdir(source)).length === 0) await this.ownByMappedRoot(c, source);
      } else if (p.Type === 'bind') {
        await ensureBindSource(source);
      }
      mounts.push({
        destination: p.Destination,
        source,
        type: 'bind',
        options: ['rbind', p.RW ? 'rw' : 'ro', ...(p.Propagation ? [p.Propagation] : [])],
      });
    }
    let args = [c.Path, ...c.Args];
    if (hc.Init) {
      // `--init`: a static init (Docker ships tini as docker-init) runs as PID 1, forwards
      // signals and reaps zombies; it is bind-mounted, so the image needs nothing.
      const init = (await findExecutable('tini-static')) ?? (await findExecutable('catatonit'));
      if (!init) throw invalidParameter('--init needs tini-static or catatonit: apt-get install tini');
      mounts.push({
        destination: INIT_PATH,
        source: init,
        type: 'bind',
        options: ['rbind', 'ro', 'rprivate'],
      });
      args = [INIT_PATH, '--', ...args];
    }
    return {
      rootfs,
      readonlyRootfs: hc.ReadonlyRootfs ?? false,
      args,
      // Docker's legacy link variables come first: the container's own Env wins over them.
      env: [...this.linkEnv(c), ...(c.Config.Env ?? [])],
      cwd,
      user,
      terminal: c.Config.Tty ?? false,
      hostname: c.Config.Hostname ?? c.Id.slice(0, 12),
      ...(c.Config.Domainname ? { domainname: c.Config.Domainname } : {}),
      network,
      mounts,
      resources: { ...resourcesOf(hc), ...(blockIO ? { blockIO } : {}) },
      ...linux,
      devices: await Promise.all(
        (hc.Devices ?? []).map((d) =>
          hostDevice(d.PathOnHost, d.PathInContainer || d.PathOnHost, d.CgroupPermissions || 'rwm'),
        ),
      ),
      privileged: hc.Privileged ?? false,
      capAdd: hc.CapAdd ?? [],
      capDrop: hc.CapDrop ?? [],
      noNewPrivileges: (hc.SecurityOpt ?? []).some((o) => /^no-new-privileges(=true|:true)?$/.test(o)),
      seccomp: (hc.SecurityOpt ?? []).includes('seccomp=unconfined') ? 'unconfined' : 'default',
      rlimits: (hc.Ulimits ?? []).map((u) => ({ type: u.Name, soft: u.Soft, hard: u.Hard })),
      sysctls: hc.Sysctls ?? {},
      cgroupsPath: this.cgroupPath(c.Id, hc.CgroupParent),
      ...(hc.ShmSize ? { shmSize: hc.ShmSize } : {}),
      ...(c.IdMappings ? { userNamespace: c.IdMappings } : {}),
    };
  }

  /**
   * `--link name:alias` environment, as Docker sets it: ALIAS_NAME, ALIAS_PORT…, and the linked
   * container's own Env as ALIAS_ENV_… (HOME and PATH left out). Links that cannot resolve are
   * the networking's to refuse; they add nothing here.
   */
  private linkEnv(c: ContainerRecord): string[] {
    const env: string[] = [];
    for (const link of c.HostConfig.Links ?? []) {
      const [ref = '', aliasPart] = link.split(':');
      const target = this.deps.find(ref);
      if (!target) continue;
      const aliasName = (aliasPart ?? target.Name).split('/').pop() ?? '';
      const prefix = aliasName.toUpperCase().replace(/-/g, '_');
      env.push(`${prefix}_NAME=${c.Name}/${aliasName}`);
      const networks = (target.NetworkSettings.Networks ?? {}) as Record<string, { IPAddress?: string }>;
      const ip = networks.bridge?.IPAddress ?? '';
      const ports = Object.keys((target.Config.ExposedPorts ?? {}) as Record<string, unknown>)
        .map((key) => {
          const [port = '', proto = 'tcp'] = key.split('/');
          return { port: Number(port), proto };
        })
        .filter((p) => Number.isInteger(p.port))
        .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
      if (ip && ports[0]) env.push(`${prefix}_PORT=${ports[0].proto}://${ip}:${ports[0].port}`);
      for (const { port, proto } of ip ? ports : []) {
        const key = `${prefix}_PORT_${port}_${proto.toUpperCase()}`;
        env.push(
          `${key}=${proto}://${ip}:${port}`,
          `${key}_ADDR=${ip}`,
          `${key}_PORT=${port}`,
          `${key}_PROTO=${proto}`,
        );
      }
      for (const e of target.Config.Env ?? []) {
        const i = e.indexOf('=');
        if (i <= 0) continue;
        const key = e.slice(0, i);
        if (key === 'HOME' || key === 'PATH') continue;
        env.push(`${prefix}_ENV_${key}=${e.slice(i + 1)}`);
      }
    }
    return env;
  }

  async writeEtcFiles(c: ContainerRecord, resolvConf?: string, hostsFile?: string): Promise<void> {
    const hostname = c.Config.Hostname ?? c.Id.slice(0, 12);
    await writeFile(c.HostnamePath, `${hostname}\n`);
    if (hostsFile !== undefined && resolvConf !== undefined) {
      await writeFile(c.HostsPath, hostsFile);
      await writeFile(c.ResolvConfPath, resolvConf);
      return;
    }
    await writeFile(c.HostsPath, buildHostsFile({ hostname, extraHosts: c.HostConfig.ExtraHosts ?? [] }));
    const dns = c.HostConfig.Dns ?? [];
    const lines = dns.map((d) => `nameserver ${d}`);
    if (c.HostConfig.DnsSearch?.length) lines.push(`search ${c.HostConfig.DnsSearch.join(' ')}`);
    if (c.HostConfig.DnsOptions?.length) lines.push(`options ${c.HostConfig.DnsOptions.join(' ')}`);
    await writeFile(c.ResolvConfPath, lines.length ? `${lines.join('\n')}\n` : '');
  }
}

/** The cgroup limits a container's host config asks for. */
export function resourcesOf(hc: HostConfig): Resources {
  return {
    ...(hc.Memory ? { memory: hc.Memory } : {}),
    ...(hc.MemorySwap ? { memorySwap: hc.MemorySwap } : {}),
    ...(hc.CpuShares ? { cpuShares: hc.CpuShares } : {}),
    ...(hc.NanoCpus ? { cpuQuota: Math.round((hc.NanoCpus / 1e9) * 100_000), cpuPeriod: 100_000 } : {}),
    ...(hc.CpuQuota ? { cpuQuota: hc.CpuQuota } : {}),
    ...(hc.CpuPeriod ? { cpuPeriod: hc.CpuPeriod } : {}),
    ...(hc.CpusetCpus ? { cpusetCpus: hc.CpusetCpus } : {}),
    ...(hc.CpusetMems ? { cpusetMems: hc.CpusetMems } : {}),
    ...(hc.PidsLimit ? { pidsLimit: hc.PidsLimit } : {}),
    ...(hc.MemoryReservation ? { memoryReservation: hc.MemoryReservation } : {}),
    ...(typeof hc.MemorySwappiness === 'number' && hc.MemorySwappiness >= 0
      ? { memorySwappiness: hc.MemorySwappiness }
      : {}),
    ...(hc.OomKillDisable ? { disableOOMKiller: true } : {}),
    ...(hc.CpuRealtimePeriod ? { cpuRealtimePeriod: hc.CpuRealtimePeriod } : {}),
    ...(hc.CpuRealtimeRuntime ? { cpuRealtimeRuntime: hc.CpuRealtimeRuntime } : {}),
  };
}
