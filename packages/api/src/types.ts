import { z } from 'zod';

// Request bodies of the Engine API (v1.47), validated at the daemon's edge. Unknown fields
// pass through: newer clients send fields older daemons ignore, as Docker does.

const stringList = z.array(z.string()).nullable().optional();

export const RestartPolicySchema = z
  .object({
    Name: z.enum(['', 'no', 'always', 'unless-stopped', 'on-failure']).default('no'),
    MaximumRetryCount: z.number().int().nonnegative().default(0),
  })
  .passthrough();

export const PortBindingSchema = z
  .object({ HostIp: z.string().default(''), HostPort: z.string().default('') })
  .passthrough();

export const MountPointSchema = z
  .object({
    Type: z.enum(['bind', 'volume', 'tmpfs', 'npipe', 'cluster']).default('volume'),
    Source: z.string().optional(),
    Target: z.string(),
    ReadOnly: z.boolean().optional(),
    VolumeOptions: z
      .object({
        NoCopy: z.boolean().optional(),
        Labels: z.record(z.string()).nullable().optional(),
        DriverConfig: z
          .object({ Name: z.string().optional(), Options: z.record(z.string()).nullable().optional() })
          .nullable()
          .optional(),
      })
      .passthrough()
      .nullable()
      .optional(),
    TmpfsOptions: z
      .object({ SizeBytes: z.number().int().optional(), Mode: z.number().int().optional() })
      .passthrough()
      .nullable()
      .optional(),
  })
  .passthrough();

export const HostConfigSchema = z
  .object({
    Binds: stringList,
    NetworkMode: z.string().optional(),
    PortBindings: z.record(z.array(PortBindingSchema).nullable()).nullable().optional(),
    PublishAllPorts: z.boolean().optional(),
    AutoRemove: z.boolean().optional(),
    RestartPolicy: RestartPolicySchema.optional(),
    Memory: z.number().int().nonnegative().optional(),
    MemorySwap: z.number().int().optional(),
    MemoryReservation: z.number().int().optional(),
    NanoCpus: z.number().int().nonnegative().optional(),
    CpuShares: z.number().int().nonnegative().optional(),
    CpuQuota: z.number().int().optional(),
    CpuPeriod: z.number().int().nonnegative().optional(),
    CpusetCpus: z.string().optional(),
    CpusetMems: z.string().optional(),
    PidsLimit: z.number().int().nullable().optional(),
    OomKillDisable: z.boolean().nullable().optional(),
    Privileged: z.boolean().optional(),
    CapAdd: stringList,
    CapDrop: stringList,
    ReadonlyRootfs: z.boolean().optional(),
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
          PathInContainer: z.string().default(''),
          CgroupPermissions: z.string().default('rwm'),
        }),
      )
      .nullable()
      .optional(),
    LogConfig: z
      .object({ Type: z.string().default(''), Config: z.record(z.string()).nullable().optional() })
      .passthrough()
      .optional(),
    ShmSize: z.number().int().nonnegative().optional(),
    Sysctls: z.record(z.string()).nullable().optional(),
    Tmpfs: z.record(z.string()).nullable().optional(),
    IpcMode: z.string().optional(),
    PidMode: z.string().optional(),
    UTSMode: z.string().optional(),
    UsernsMode: z.string().optional(),
    Runtime: z.string().optional(),
    Mounts: z.array(MountPointSchema).nullable().optional(),
    VolumesFrom: stringList,
  })
  .passthrough();
export type HostConfig = z.infer<typeof HostConfigSchema>;

export const HealthConfigSchema = z
  .object({
    Test: stringList,
    Interval: z.number().optional(),
    Timeout: z.number().optional(),
    Retries: z.number().optional(),
    StartPeriod: z.number().optional(),
    StartInterval: z.number().optional(),
  })
  .passthrough();

export const ContainerConfigSchema = z
  .object({
    Hostname: z.string().optional(),
    Domainname: z.string().optional(),
    User: z.string().optional(),
    AttachStdin: z.boolean().optional(),
    AttachStdout: z.boolean().optional(),
    AttachStderr: z.boolean().optional(),
    ExposedPorts: z.record(z.object({}).passthrough()).nullable().optional(),
    Tty: z.boolean().optional(),
    OpenStdin: z.boolean().optional(),
    StdinOnce: z.boolean().optional(),
    Env: stringList,
    Cmd: z
      .union([z.array(z.string()), z.string()])
      .nullable()
      .optional(),
    Healthcheck: HealthConfigSchema.nullable().optional(),
    Image: z.string().optional(),
    Volumes: z.record(z.object({}).passthrough()).nullable().optional(),
    WorkingDir: z.string().optional(),
    Entrypoint: z
      .union([z.array(z.string()), z.string()])
      .nullable()
      .optional(),
    NetworkDisabled: z.boolean().optional(),
    MacAddress: z.string().optional(),
    Labels: z.record(z.string()).nullable().optional(),
    StopSignal: z.string().optional(),
    StopTimeout: z.number().int().nullable().optional(),
    Shell: stringList,
  })
  .passthrough();
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

/** An EndpointsConfig entry (create) or EndpointConfig (network connect); null means unset. */
export const EndpointSettingsSchema = z
  .object({
    IPAMConfig: z
      .object({
        IPv4Address: z.string().nullable().optional(),
        IPv6Address: z.string().nullable().optional(),
        LinkLocalIPs: z.array(z.string()).nullable().optional(),
      })
      .passthrough()
      .nullable()
      .optional(),
    Links: z.array(z.string()).nullable().optional(),
    Aliases: stringList,
    MacAddress: z.string().nullable().optional(),
    DriverOpts: z.record(z.string()).nullable().optional(),
  })
  .passthrough();
export type EndpointSettingsRequest = z.infer<typeof EndpointSettingsSchema>;

export const ContainerCreateRequestSchema = ContainerConfigSchema.extend({
  HostConfig: HostConfigSchema.nullable().optional(),
  NetworkingConfig: z
    .object({ EndpointsConfig: z.record(EndpointSettingsSchema.nullable()).nullable().optional() })
    .passthrough()
    .nullable()
    .optional(),
});
export type ContainerCreateRequest = z.infer<typeof ContainerCreateRequestSchema>;

/** `POST /containers/{id}/wait?condition=…` */
export const WaitConditionSchema = z.enum(['not-running', 'next-exit', 'removed']).default('not-running');
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
