import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';

// Response bodies of the Engine API, as the typed client checks them. Lenient on purpose:
// unknown fields pass through (Docker adds fields in every API version); only the fields a
// caller reads are described, and a missing optional one is not an error.

const labels = z.record(z.string()).nullable().optional();

export const PortSummarySchema = lazySchema(() =>
  z
    .object({
      IP: z.string().optional(),
      PrivatePort: z.number(),
      PublicPort: z.number().optional(),
      Type: z.string(),
    })
    .passthrough(),
);

/** One row of `GET /containers/json`. */
export const ContainerSummarySchema = lazySchema(() =>
  z
    .object({
      Id: z.string(),
      Names: z.array(z.string()),
      Image: z.string(),
      ImageID: z.string(),
      Command: z.string(),
      Created: z.number(),
      // Go encodes an empty slice as null: a real daemon may send `Ports: null`.
      Ports: z.array(PortSummarySchema).nullable(),
      Labels: labels,
      State: z.string(),
      Status: z.string(),
      NetworkSettings: z
        .object({ Networks: z.record(z.unknown()).nullable().optional() })
        .passthrough()
        .nullable()
        .optional(),
      SizeRw: z.number().optional(),
      SizeRootFs: z.number().optional(),
    })
    .passthrough(),
);
export const ContainerListSchema = lazySchema(() => z.array(ContainerSummarySchema));
export type ContainerSummaryResponse = z.infer<typeof ContainerSummarySchema>;

/** `GET /containers/{id}/json`: the fields callers read; the rest passes through. */
export const ContainerInspectSchema = lazySchema(() =>
  z
    .object({
      Id: z.string(),
      Name: z.string(),
      Image: z.string(),
      Created: z.string(),
      State: z
        .object({
          Status: z.string(),
          Running: z.boolean(),
          Paused: z.boolean().optional(),
          Restarting: z.boolean().optional(),
        })
        .passthrough(),
      Config: z
        .object({
          Tty: z.boolean().optional(),
          OpenStdin: z.boolean().optional(),
          Image: z.string().optional(),
        })
        .passthrough(),
      HostConfig: z.record(z.unknown()),
    })
    .passthrough(),
);

/** `GET /containers/{id}/top`. */
export const ContainerTopSchema = lazySchema(() =>
  z.object({ Titles: z.array(z.string()), Processes: z.array(z.array(z.string())).nullable() }).passthrough(),
);

/** `GET /containers/{id}/changes`: Kind 0 modified, 1 added, 2 deleted. */
export const ContainerChangesSchema = lazySchema(() =>
  z.array(z.object({ Path: z.string(), Kind: z.number() }).passthrough()).nullable(),
);

/** `GET /exec/{id}/json`: the exit code is null while the process runs. */
export const ExecInspectSchema = lazySchema(() =>
  z.object({ Running: z.boolean().optional(), ExitCode: z.number().nullable() }).passthrough(),
);

/** `POST /containers/{id}/wait`. */
export const ContainerWaitSchema = lazySchema(() =>
  z
    .object({
      StatusCode: z.number(),
      Error: z.object({ Message: z.string() }).passthrough().nullable().optional(),
    })
    .passthrough(),
);

/** One row of `GET /images/json`. */
export const ImageSummarySchema = lazySchema(() =>
  z
    .object({
      Id: z.string(),
      ParentId: z.string(),
      RepoTags: z.array(z.string()).nullable(),
      RepoDigests: z.array(z.string()).nullable(),
      Created: z.number(),
      Size: z.number(),
      SharedSize: z.number().optional(),
      VirtualSize: z.number().optional(),
      Labels: labels,
      Containers: z.number(),
    })
    .passthrough(),
);
export const ImageListSchema = lazySchema(() => z.array(ImageSummarySchema));
export type ImageSummaryResponse = z.infer<typeof ImageSummarySchema>;

/** `GET /images/{name}/json`: the fields callers read; the rest passes through. */
export const ImageInspectSchema = lazySchema(() =>
  z
    .object({
      Id: z.string(),
      RepoTags: z.array(z.string()).nullable().optional(),
      RepoDigests: z.array(z.string()).nullable().optional(),
      Size: z.number().optional(),
    })
    .passthrough(),
);

/** `DELETE /images/{name}`: one entry per tag removed or image deleted. */
export const ImageDeleteSchema = lazySchema(() =>
  z.array(z.object({ Untagged: z.string().optional(), Deleted: z.string().optional() }).passthrough()),
);

/** One row of `GET /images/{name}/history`, newest first. */
export const ImageHistoryEntrySchema = lazySchema(() =>
  z
    .object({
      Id: z.string(),
      Created: z.number(),
      CreatedBy: z.string(),
      Tags: z.array(z.string()).nullable(),
      Size: z.number(),
      Comment: z.string(),
    })
    .passthrough(),
);
export const ImageHistorySchema = lazySchema(() => z.array(ImageHistoryEntrySchema));

const ComponentVersionSchema = z
  .object({ Name: z.string(), Version: z.string(), Details: z.record(z.unknown()).nullable().optional() })
  .passthrough();

/** `GET /version`. */
export const VersionResponseSchema = lazySchema(() =>
  z
    .object({
      Version: z.string(),
      ApiVersion: z.string(),
      MinAPIVersion: z.string().optional(),
      Os: z.string(),
      Arch: z.string(),
      Components: z.array(ComponentVersionSchema).nullable().optional(),
    })
    .passthrough(),
);
export type VersionResponse = z.infer<typeof VersionResponseSchema>;

/** `GET /info`: only a few fields are described; Docker's list is long and grows. */
export const SystemInfoSchema = lazySchema(() =>
  z.object({ ServerVersion: z.string(), Containers: z.number(), Images: z.number() }).passthrough(),
);

/** `GET /system/df`: each section is there when its type was asked for. */
export const DiskUsageSchema = lazySchema(() =>
  z
    .object({
      LayersSize: z.number().optional(),
      Images: z.array(ImageSummarySchema).nullable().optional(),
      Containers: z
        .array(ContainerSummarySchema.partial({ Ports: true }))
        .nullable()
        .optional(),
      Volumes: z
        .array(z.object({ Name: z.string() }).passthrough())
        .nullable()
        .optional(),
      BuildCache: z.array(z.unknown()).nullable().optional(),
    })
    .passthrough(),
);

/** `POST /containers/prune` and the other prunes: what went and the bytes freed. */
export const ContainerPruneSchema = lazySchema(() =>
  z.object({ ContainersDeleted: z.array(z.string()).nullable(), SpaceReclaimed: z.number() }).passthrough(),
);
export const ImagePruneSchema = lazySchema(() =>
  z
    .object({
      ImagesDeleted: z
        .array(z.object({ Untagged: z.string().optional(), Deleted: z.string().optional() }).passthrough())
        .nullable(),
      SpaceReclaimed: z.number(),
    })
    .passthrough(),
);
export const VolumePruneSchema = lazySchema(() =>
  z.object({ VolumesDeleted: z.array(z.string()).nullable(), SpaceReclaimed: z.number() }).passthrough(),
);
export const NetworkPruneSchema = lazySchema(() =>
  z.object({ NetworksDeleted: z.array(z.string()).nullable() }).passthrough(),
);
export const BuildCachePruneSchema = lazySchema(() =>
  z
    .object({
      CachesDeleted: z.array(z.string()).nullable().optional(),
      SpaceReclaimed: z.number().optional(),
    })
    .passthrough(),
);

/** `POST /containers/create`, `POST /networks/create`. */
export const CreateResponseSchema = lazySchema(() =>
  z.object({ Id: z.string(), Warnings: z.array(z.string()).nullable().optional() }).passthrough(),
);

/** `GET /networks` rows and `GET /networks/{id}`. */
export const NetworkSchema = lazySchema(() =>
  z
    .object({
      Name: z.string(),
      Id: z.string(),
      Created: z.string().optional(),
      Driver: z.string(),
      Scope: z.string(),
      EnableIPv6: z.boolean().optional(),
      Internal: z.boolean().optional(),
      Labels: labels,
    })
    .passthrough(),
);
export const NetworkListSchema = lazySchema(() => z.array(NetworkSchema));
export type NetworkResponse = z.infer<typeof NetworkSchema>;

/** `GET /volumes/{name}` and `POST /volumes/create`. */
export const VolumeSchema = lazySchema(() =>
  z
    .object({
      Name: z.string(),
      Driver: z.string(),
      Mountpoint: z.string(),
      Scope: z.string(),
      Labels: labels,
    })
    .passthrough(),
);
export type VolumeResponse = z.infer<typeof VolumeSchema>;
/** `GET /volumes`. */
export const VolumeListSchema = lazySchema(() =>
  z
    .object({
      Volumes: z.array(VolumeSchema).nullable(),
      Warnings: z.array(z.string()).nullable().optional(),
    })
    .passthrough(),
);

/** One line of `GET /events`. */
export const EventMessageSchema = lazySchema(() =>
  z
    .object({
      Type: z.string(),
      Action: z.string(),
      Actor: z.object({ ID: z.string(), Attributes: z.record(z.string()) }).passthrough(),
      time: z.number(),
      timeNano: z.union([z.number(), z.bigint()]),
    })
    .passthrough(),
);
