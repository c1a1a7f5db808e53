import { z } from 'zod';

export const MountSpecSchema = z.object({
  destination: z.string(),
  source: z.string(),
  type: z.string().default('bind'),
  options: z.array(z.string()).default([]),
});

export const NetworkNamespaceSchema = z.discriminatedUnion('mode', [
  /** A fresh namespace with only `lo` (the engine wires it further, or not: `--network none`). */
  z.object({ mode: z.literal('new') }),
  /** The host's namespace: `--network host`. */
  z.object({ mode: z.literal('host') }),
  /** Join an existing namespace, e.g. one prepared by the network package or another container's. */
  z.object({ mode: z.literal('path'), path: z.string() }),
]);

export const ResourcesSchema = z.object({
  /** Bytes; `-m`. */
  memory: z.number().int().positive().optional(),
  /** Bytes of memory + swap; -1 for unlimited; `--memory-swap`. */
  memorySwap: z.number().int().optional(),
  cpuShares: z.number().int().nonnegative().optional(),
  cpuQuota: z.number().int().optional(),
  cpuPeriod: z.number().int().positive().optional(),
  cpusetCpus: z.string().optional(),
  cpusetMems: z.string().optional(),
  pidsLimit: z.number().int().optional(),
  /** Bytes; `--memory-reservation` (the soft limit). */
  memoryReservation: z.number().int().positive().optional(),
  /** 0-100; `--memory-swappiness`. */
  memorySwappiness: z.number().int().min(0).max(100).optional(),
  /** `--oom-kill-disable`. */
  disableOOMKiller: z.boolean().optional(),
  /** Microseconds; `--cpu-rt-period`, `--cpu-rt-runtime`. */
  cpuRealtimePeriod: z.number().int().positive().optional(),
  cpuRealtimeRuntime: z.number().int().optional(),
  /** OCI `linux.resources.blockIO` as is: weight, weightDevice, throttle{Read,Write}{Bps,IOPS}Device. */
  blockIO: z.record(z.unknown()).optional(),
});

/** A device node created in the container, with its device cgroup rule. */
export const DeviceSpecSchema = z.object({
  /** Path inside the container. */
  path: z.string().startsWith('/'),
  type: z.enum(['c', 'b']),
  major: z.number().int().nonnegative(),
  minor: z.number().int().nonnegative(),
  fileMode: z.number().int().optional(),
  uid: z.number().int().optional(),
  gid: z.number().int().optional(),
  /** cgroup permissions: any of r, w, m. */
  access: z
    .string()
    .regex(/^[rwm]{1,3}$/)
    .default('rwm'),
});

export const RlimitSchema = z.object({ type: z.string(), soft: z.number().int(), hard: z.number().int() });

/**
 * The high-level description of a container's process and isolation that `generateSpec`
 * turns into an OCI runtime-spec config.json.
 */
export const ContainerSpecInputSchema = z.object({
  /** Absolute path of the mounted root filesystem. */
  rootfs: z.string(),
  readonlyRootfs: z.boolean().default(false),
  args: z.array(z.string()).min(1, 'no command specified'),
  env: z.array(z.string()).default([]),
  cwd: z.string().default('/'),
  user: z
    .object({
      uid: z.number().int(),
      gid: z.number().int(),
      additionalGids: z.array(z.number().int()).default([]),
    })
    .default({ uid: 0, gid: 0, additionalGids: [] }),
  terminal: z.boolean().default(false),
  hostname: z.string().optional(),
  domainname: z.string().optional(),
  network: NetworkNamespaceSchema.default({ mode: 'new' }),
  /** Share the host's IPC / PID namespace (`--ipc host`, `--pid host`) or another's by path. */
  ipcNamespacePath: z.string().optional(),
  pidNamespacePath: z.string().optional(),
  hostIpc: z.boolean().default(false),
  hostPid: z.boolean().default(false),
  userNamespace: z
    .object({
      uidMappings: z.array(z.object({ containerID: z.number(), hostID: z.number(), size: z.number() })),
      gidMappings: z.array(z.object({ containerID: z.number(), hostID: z.number(), size: z.number() })),
    })
    .optional(),
  mounts: z.array(MountSpecSchema).default([]),
  /** Host devices made available (`--device /dev/x[:/dev/y[:rwm]]`). */
  devices: z.array(DeviceSpecSchema).default([]),
  resources: ResourcesSchema.default({}),
  privileged: z.boolean().default(false),
  capAdd: z.array(z.string()).default([]),
  capDrop: z.array(z.string()).default([]),
  noNewPrivileges: z.boolean().default(false),
  /** `default` is Docker's default profile; `unconfined` disables seccomp; or a profile object. */
  seccomp: z.union([z.literal('default'), z.literal('unconfined'), z.record(z.unknown())]).default('default'),
  rlimits: z.array(RlimitSchema).default([]),
  sysctls: z.record(z.string()).default({}),
  oomScoreAdj: z.number().int().optional(),
  /** A cgroup namespace of its own (`--cgroupns private`); the host's otherwise. */
  cgroupNamespace: z.boolean().default(false),
  /** The host's UTS namespace (`--uts host`): no hostname of its own. */
  hostUts: z.boolean().default(false),
  /** Extra device cgroup rules (`--device-cgroup-rule`), as OCI `linux.resources.devices` entries. */
  deviceCgroupRules: z
    .array(
      z.object({
        type: z.enum(['a', 'c', 'b']),
        major: z.number().int().optional(),
        minor: z.number().int().optional(),
        access: z.string().regex(/^[rwm]{1,3}$/),
      }),
    )
    .default([]),
  /** cgroupfs path relative to each hierarchy's root, e.g. `/tsctr/<id>`. */
  cgroupsPath: z.string(),
  annotations: z.record(z.string()).default({}),
  maskedPaths: z.array(z.string()).optional(),
  readonlyPaths: z.array(z.string()).optional(),
  shmSize: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
});
export type ContainerSpecInput = z.input<typeof ContainerSpecInputSchema>;
export type DeviceSpec = z.infer<typeof DeviceSpecSchema>;
/** cgroup limits: `-m`, `--memory-swap`, `--cpu-shares`, `--cpus`, `--cpuset-cpus`, `--pids-limit`. */
export type Resources = z.infer<typeof ResourcesSchema>;
export type ContainerSpecOptions = z.output<typeof ContainerSpecInputSchema>;
