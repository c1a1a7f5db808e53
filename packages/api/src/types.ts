import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';

// Request bodies of the Engine API (v1.47), validated at the daemon's edge. Unknown fields
// pass through: newer clients send fields older daemons ignore, as Docker does.

const stringList = z.array(z.string()).nullable().optional();

/**
 * An optional field of a request body: absent or JSON `null` both mean unset, as a Go client's
 * zero values do (docker-py sends `null` for every option it was not given).
 */
function unset<T extends z.ZodTypeAny>(schema: T) {
  return z.preprocess(nullAsAbsent, schema.optional());
}

/** Like {@link unset}, with the value an unset field takes. */
function unsetOr<T extends z.ZodTypeAny>(schema: T, value: z.input<T>) {
  return z.preprocess(nullAsAbsent, schema.default(value));
}

function nullAsAbsent(v: unknown): unknown {
  return v === null ? undefined : v;
}

export const RestartPolicySchema = lazySchema(() =>
  z
    .object({
      Name: unsetOr(z.enum(['', 'no', 'always', 'unless-stopped', 'on-failure']), 'no'),
      MaximumRetryCount: unsetOr(z.number().int().nonnegative(), 0),
    })
    .passthrough(),
);

export const PortBindingSchema = lazySchema(() =>
  z.object({ HostIp: unsetOr(z.string(), ''), HostPort: unsetOr(z.string(), '') }).passthrough(),
);

export const MountPointSchema = lazySchema(() =>
  z
    .object({
      Type: unsetOr(z.enum(['bind', 'volume', 'tmpfs', 'npipe', 'cluster']), 'volume'),
      Source: unset(z.string()),
      Target: z.string(),
      ReadOnly: unset(z.boolean()),
      VolumeOptions: z
        .object({
          NoCopy: unset(z.boolean()),
          Labels: z.record(z.string()).nullable().optional(),
          DriverConfig: z
            .object({ Name: unset(z.string()), Options: z.record(z.string()).nullable().optional() })
            .nullable()
            .optional(),
        })
        .passthrough()
        .nullable()
        .optional(),
      TmpfsOptions: z
        .object({ SizeBytes: unset(z.number().int()), Mode: unset(z.number().int()) })
        .passthrough()
        .nullable()
        .optional(),
    })
    .passthrough(),
);

/** `--device-read-bps` and its kin: a rate (bytes or IO per second) for a block device. */
const throttleDevices = lazySchema(() =>
  z
    .array(z.object({ Path: z.string(), Rate: z.number().int().nonnegative() }))
    .nullable()
    .optional(),
);

export const HostConfigSchema = lazySchema(() =>
  z
    .object({
      Binds: stringList,
      NetworkMode: unset(z.string()),
      PortBindings: z.record(z.array(PortBindingSchema).nullable()).nullable().optional(),
      PublishAllPorts: unset(z.boolean()),
      AutoRemove: unset(z.boolean()),
      RestartPolicy: unset(RestartPolicySchema),
      Memory: unset(z.number().int().nonnegative()),
      MemorySwap: unset(z.number().int()),
      MemoryReservation: unset(z.number().int()),
      NanoCpus: unset(z.number().int().nonnegative()),
      CpuShares: unset(z.number().int().nonnegative()),
      CpuQuota: unset(z.number().int()),
      CpuRealtimePeriod: unset(z.number().int().nonnegative()),
      CpuRealtimeRuntime: unset(z.number().int()),
      CpuPeriod: unset(z.number().int().nonnegative()),
      CpusetCpus: unset(z.string()),
      CpusetMems: unset(z.string()),
      PidsLimit: z.number().int().nullable().optional(),
      OomKillDisable: z.boolean().nullable().optional(),
      OomScoreAdj: unset(z.number().int()),
      MemorySwappiness: z.number().int().nullable().optional(),
      /** Ignored since API 1.42, as dockerd does; kept only so the field parses. */
      KernelMemory: unset(z.number().int()),
      BlkioWeight: unset(z.number().int().nonnegative()),
      BlkioWeightDevice: z
        .array(z.object({ Path: z.string(), Weight: z.number().int().nonnegative() }))
        .nullable()
        .optional(),
      BlkioDeviceReadBps: throttleDevices,
      BlkioDeviceWriteBps: throttleDevices,
      BlkioDeviceReadIOps: throttleDevices,
      BlkioDeviceWriteIOps: throttleDevices,
      DeviceCgroupRules: stringList,
      DeviceRequests: z.array(z.object({}).passthrough()).nullable().optional(),
      CgroupParent: unset(z.string()),
      CgroupnsMode: unset(z.string()),
      Annotations: z.record(z.string()).nullable().optional(),
      StorageOpt: z.record(z.string()).nullable().optional(),
      VolumeDriver: unset(z.string()),
      Privileged: unset(z.boolean()),
      CapAdd: stringList,
      CapDrop: stringList,
      ReadonlyRootfs: unset(z.boolean()),
      SecurityOpt: stringList,
      Dns: stringList,
      DnsSearch: stringList,
      DnsOptions: stringList,
      ExtraHosts: stringList,
      Links: stringList,
      Init: z.boolean().nullable().optional(),
      Ulimits: z
        .array(z.object({ Name: z.string(), Soft: z.number(), Hard: z.number() }))
        .nullable()
        .optional(),
      Devices: z
        .array(
          z.object({
            PathOnHost: z.string(),
            PathInContainer: unsetOr(z.string(), ''),
            CgroupPermissions: unsetOr(z.string(), 'rwm'),
          }),
        )
        .nullable()
        .optional(),
      LogConfig: unset(
        z
          .object({ Type: unsetOr(z.string(), ''), Config: z.record(z.string()).nullable().optional() })
          .passthrough(),
      ),
      ShmSize: unset(z.number().int().nonnegative()),
      Sysctls: z.record(z.string()).nullable().optional(),
      Tmpfs: z.record(z.string()).nullable().optional(),
      IpcMode: unset(z.string()),
      PidMode: unset(z.string()),
      UTSMode: unset(z.string()),
      UsernsMode: unset(z.string()),
      Runtime: unset(z.string()),
      Mounts: z.array(MountPointSchema).nullable().optional(),
      VolumesFrom: stringList,
      /** Supplementary groups, by name or number (docker-py may send numbers). */
      GroupAdd: z
        .array(z.union([z.string(), z.number().int().transform(String)]))
        .nullable()
        .optional(),
    })
    .passthrough(),
);
export type HostConfig = z.infer<typeof HostConfigSchema>;

export const HealthConfigSchema = lazySchema(() =>
  z
    .object({
      Test: stringList,
      Interval: unset(z.number()),
      Timeout: unset(z.number()),
      Retries: unset(z.number()),
      StartPeriod: unset(z.number()),
      StartInterval: unset(z.number()),
    })
    .passthrough(),
);

export const ContainerConfigSchema = lazySchema(() =>
  z
    .object({
      Hostname: unset(z.string()),
      Domainname: unset(z.string()),
      User: unset(z.string()),
      AttachStdin: unset(z.boolean()),
      AttachStdout: unset(z.boolean()),
      AttachStderr: unset(z.boolean()),
      ExposedPorts: z.record(z.object({}).passthrough()).nullable().optional(),
      Tty: unset(z.boolean()),
      OpenStdin: unset(z.boolean()),
      StdinOnce: unset(z.boolean()),
      Env: stringList,
      Cmd: z
        .union([z.array(z.string()), z.string()])
        .nullable()
        .optional(),
      Healthcheck: unset(HealthConfigSchema),
      Image: unset(z.string()),
      Volumes: z.record(z.object({}).passthrough()).nullable().optional(),
      WorkingDir: unset(z.string()),
      Entrypoint: z
        .union([z.array(z.string()), z.string()])
        .nullable()
        .optional(),
      NetworkDisabled: unset(z.boolean()),
      MacAddress: unset(z.string()),
      Labels: z.record(z.string()).nullable().optional(),
      StopSignal: unset(z.string()),
      StopTimeout: z.number().int().nullable().optional(),
      Shell: stringList,
    })
    .passthrough(),
);
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

/** An EndpointsConfig entry (create) or EndpointConfig (network connect); null means unset. */
export const EndpointSettingsSchema = lazySchema(() =>
  z
    .object({
      IPAMConfig: z
        .object({
          IPv4Address: unset(z.string()),
          IPv6Address: unset(z.string()),
          LinkLocalIPs: unset(z.array(z.string())),
        })
        .passthrough()
        .nullable()
        .optional(),
      Links: unset(z.array(z.string())),
      Aliases: stringList,
      MacAddress: unset(z.string()),
      DriverOpts: unset(z.record(z.string())),
    })
    .passthrough(),
);
export type EndpointSettingsRequest = z.infer<typeof EndpointSettingsSchema>;

const ContainerCreateBodySchema = lazySchema(() =>
  ContainerConfigSchema.extend({
    HostConfig: HostConfigSchema.nullable().optional(),
    NetworkingConfig: z
      .object({ EndpointsConfig: z.record(EndpointSettingsSchema.nullable()).nullable().optional() })
      .passthrough()
      .nullable()
      .optional(),
  }),
);
/** `POST /containers/create`: field names matched as Go's JSON decoder does (docker-py sends `CPURealtimePeriod`). */
export const ContainerCreateRequestSchema = lazySchema(() =>
  z.preprocess((v) => withGoFieldNames(v, ContainerCreateBodySchema), ContainerCreateBodySchema),
);
export type ContainerCreateRequest = z.infer<typeof ContainerCreateBodySchema>;

function innerSchema(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodDefault) s = s.removeDefault();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else return s;
  }
}

/**
 * Renames the fields of `value` that match a field of `schema` but for case to that field's
 * name, through nested objects, arrays and maps: Go's encoding/json matches struct fields
 * case-insensitively, and clients rely on it.
 */
export function withGoFieldNames(value: unknown, schema: z.ZodTypeAny): unknown {
  const s = innerSchema(schema);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value))
    return s instanceof z.ZodArray ? value.map((v) => withGoFieldNames(v, s.element)) : value;
  if (s instanceof z.ZodRecord)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withGoFieldNames(v, s.valueSchema)]));
  if (!(s instanceof z.ZodObject)) return value;
  const shape = s.shape as Record<string, z.ZodTypeAny>;
  const byLowerCase = new Map(Object.keys(shape).map((k) => [k.toLowerCase(), k]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = Object.hasOwn(shape, k) ? k : (byLowerCase.get(k.toLowerCase()) ?? k);
    // The exact name wins over a case variant of it.
    if (key !== k && Object.hasOwn(value, key)) continue;
    out[key] = Object.hasOwn(shape, key) ? withGoFieldNames(v, shape[key]!) : v;
  }
  return out;
}

/** `POST /containers/{id}/wait?condition=…` */
export const WaitConditionSchema = lazySchema(() =>
  z.enum(['not-running', 'next-exit', 'removed']).default('not-running'),
);
export type WaitCondition = z.infer<typeof WaitConditionSchema>;

/** The short container/image summaries of `GET /containers/json` and `GET /images/json`. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  Mounts: unknown[];
  SizeRw?: number;
  SizeRootFs?: number;
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string>;
  Containers: number;
}
