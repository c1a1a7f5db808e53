import { readFileSync } from 'node:fs';
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_DEVICE_RULES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
} from './defaults.js';
import { defaultSeccompProfile } from './seccomp.js';
import {
  type ContainerSpecInput,
  ContainerSpecInputSchema,
  type ContainerSpecOptions,
  type Resources,
} from './spec-input.js';

/** The subset of the OCI runtime-spec config.json this package writes. */
export interface OciSpec {
  ociVersion: string;
  process: Record<string, unknown> & { args: string[]; env: string[]; terminal: boolean };
  root: { path: string; readonly: boolean };
  hostname?: string;
  domainname?: string;
  mounts: Array<{ destination: string; type: string; source: string; options: string[] }>;
  linux: Record<string, unknown>;
  annotations?: Record<string, string>;
}

export function normaliseCapability(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/**
 * Every capability we can grant: ALL_CAPABILITIES is in kernel numbering order, and like
 * Docker we keep those in our own bounding set (a daemon itself running in a container may
 * lack some; runc refuses to grant them).
 */
function kernelCapabilities(): string[] {
  let bounding = (1n << BigInt(ALL_CAPABILITIES.length)) - 1n;
  try {
    const line = /^CapBnd:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (line?.[1]) bounding = BigInt(`0x${line[1]}`);
  } catch {
    // not Linux, or /proc not mounted: assume everything
  }
  return ALL_CAPABILITIES.filter((_, i) => (bounding >> BigInt(i)) & 1n);
}

/** Docker's rules: start from the defaults (or all when privileged), add, then drop; `ALL` works in both. */
export function effectiveCapabilities(
  options: Pick<ContainerSpecOptions, 'privileged' | 'capAdd' | 'capDrop'>,
): string[] {
  if (options.privileged) return kernelCapabilities();
  let caps = new Set(DEFAULT_CAPABILITIES);
  const add = options.capAdd.map(normaliseCapability);
  const drop = options.capDrop.map(normaliseCapability);
  if (add.includes('CAP_ALL')) caps = new Set(kernelCapabilities());
  else for (const c of add) caps.add(c);
  if (drop.includes('CAP_ALL')) caps = new Set(add.filter((c) => c !== 'CAP_ALL'));
  else for (const c of drop) caps.delete(c);
  return [...caps];
}

/** Builds an OCI runtime config.json for a container, with Docker's default isolation. */
export function generateSpec(input: ContainerSpecInput): OciSpec {
  const o = ContainerSpecInputSchema.parse(input);
  const caps = effectiveCapabilities(o);
  const namespaces: Array<{ type: string; path?: string }> = [{ type: 'mount' }];
  if (!o.hostUts) namespaces.push({ type: 'uts' });
  if (o.cgroupNamespace) namespaces.push({ type: 'cgroup' });
  if (!o.hostPid)
    namespaces.push(o.pidNamespacePath ? { type: 'pid', path: o.pidNamespacePath } : { type: 'pid' });
  if (!o.hostIpc)
    namespaces.push(o.ipcNamespacePath ? { type: 'ipc', path: o.ipcNamespacePath } : { type: 'ipc' });
  if (o.network.mode === 'new') namespaces.push({ type: 'network' });
  if (o.network.mode === 'path') namespaces.push({ type: 'network', path: o.network.path });
  if (o.userNamespace) namespaces.push({ type: 'user' });

  const sysMount = o.privileged ? ['nosuid', 'noexec', 'nodev', 'rw'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  const mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    o.userNamespace && o.network.mode !== 'new'
      ? // sysfs may only be mounted by the owner of the network namespace, which a container
        // in its own user namespace is not when it joins one made outside it (the engine's
        // bridge, another container's, the host's): it gets the host's /sys read-only instead,
        // as crun falls back to and Podman does.
        {
          destination: '/sys',
          type: 'bind',
          source: '/sys',
          options: ['rbind', 'rprivate', 'nosuid', 'noexec', 'nodev', 'ro'],
        }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysMount },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...sysMount, 'relatime'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${o.shmSize}`],
    },
    ...o.mounts,
  ];

  const resources: Record<string, unknown> = {
    devices: o.privileged
      ? [{ allow: true, access: 'rwm' }]
      : [
          ...DEFAULT_DEVICE_RULES,
          ...o.devices.map((d) => ({
            allow: true,
            type: d.type,
            major: d.major,
            minor: d.minor,
            access: d.access,
          })),
          ...o.deviceCgroupRules.map((r) => ({ allow: true, ...r })),
        ],
  };
  Object.assign(resources, linuxResources(o.resources));

  const linux: Record<string, unknown> = {
    namespaces,
    resources,
    cgroupsPath: o.cgroupsPath,
    sysctl: o.sysctls,
  };
  if (!o.privileged) {
    linux.maskedPaths = o.maskedPaths ?? DEFAULT_MASKED_PATHS;
    linux.readonlyPaths = o.readonlyPaths ?? DEFAULT_READONLY_PATHS;
  }
  if (o.devices.length > 0)
    linux.devices = o.devices.map((d) => ({
      path: d.path,
      type: d.type,
      major: d.major,
      minor: d.minor,
      fileMode: d.fileMode ?? 0o666,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    }));
  if (o.userNamespace) {
    linux.uidMappings = o.userNamespace.uidMappings;
    linux.gidMappings = o.userNamespace.gidMappings;
  }
  const seccomp = seccompProfile(o);
  if (seccomp) linux.seccomp = seccomp;

  const process: OciSpec['process'] = {
    terminal: o.terminal,
    user: { uid: o.user.uid, gid: o.user.gid, additionalGids: o.user.additionalGids },
    args: o.args,
    env: o.env,
    cwd: o.cwd,
    capabilities: { bounding: caps, effective: caps, permitted: caps },
    rlimits: o.rlimits.map((r) => ({
      type: r.type.startsWith('RLIMIT_') ? r.type : `RLIMIT_${r.type.toUpperCase()}`,
      soft: r.soft,
      hard: r.hard,
    })),
    noNewPrivileges: o.noNewPrivileges,
  };
  if (o.oomScoreAdj !== undefined) process.oomScoreAdj = o.oomScoreAdj;

  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process,
    root: { path: o.rootfs, readonly: o.readonlyRootfs },
    mounts,
    linux,
    annotations: o.annotations,
  };
  // Without a UTS namespace of its own the container cannot have its own names (runc refuses).
  if (o.hostname !== undefined && !o.hostUts) spec.hostname = o.hostname;
  if (o.domainname !== undefined && !o.hostUts) spec.domainname = o.domainname;
  return spec;
}

function seccompProfile(o: ContainerSpecOptions): Record<string, unknown> | undefined {
  if (o.seccomp === 'unconfined' || o.privileged) return undefined;
  if (o.seccomp !== 'default') return o.seccomp;
  return defaultSeccompProfile(effectiveCapabilities(o)) as unknown as Record<string, unknown>;
}

/**
 * The cgroup limits of an OCI spec's `linux.resources` (without devices), for `create` and for
 * `runc update` on a running container.
 */
export function linuxResources(r: Resources): Record<string, unknown> {
  const resources: Record<string, unknown> = {};
  const memory: Record<string, number> = {};
  if (r.memory !== undefined) memory.limit = r.memory;
  if (r.memorySwap !== undefined) memory.swap = r.memorySwap;
  else if (r.memory !== undefined) memory.swap = r.memory * 2; // Docker: swap defaults to the same again.
  if (r.memoryReservation !== undefined) memory.reservation = r.memoryReservation;
  if (r.memorySwappiness !== undefined) memory.swappiness = r.memorySwappiness;
  if (Object.keys(memory).length > 0 || r.disableOOMKiller) resources.memory = memory;
  if (r.disableOOMKiller) (resources.memory as Record<string, unknown>).disableOOMKiller = true;
  const cpu: Record<string, unknown> = {};
  if (r.cpuShares !== undefined) cpu.shares = r.cpuShares;
  if (r.cpuQuota !== undefined) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== undefined) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus !== undefined) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== undefined) cpu.mems = r.cpusetMems;
  if (r.cpuRealtimePeriod !== undefined) cpu.realtimePeriod = r.cpuRealtimePeriod;
  if (r.cpuRealtimeRuntime !== undefined) cpu.realtimeRuntime = r.cpuRealtimeRuntime;
  if (Object.keys(cpu).length > 0) resources.cpu = cpu;
  if (r.blockIO && Object.keys(r.blockIO).length > 0) resources.blockIO = r.blockIO;
  if (r.pidsLimit !== undefined && r.pidsLimit > 0) resources.pids = { limit: r.pidsLimit };
  return resources;
}
