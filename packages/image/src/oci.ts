import { z } from 'zod';

/** Media types from the OCI image-spec and Docker's image manifest v2 schema 2. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const HealthcheckSchema = z
  .object({
    Test: z.array(z.string()).optional(),
    Interval: z.number().optional(),
    Timeout: z.number().optional(),
    StartPeriod: z.number().optional(),
    StartInterval: z.number().optional(),
    Retries: z.number().optional(),
  })
  .passthrough();

/** The execution parameters of an image config (image-spec config.md "config"). */
export const ImageRunConfigSchema = z
  .object({
    User: z.string().optional(),
    ExposedPorts: z.record(z.object({}).passthrough()).nullable().optional(),
    Env: z.array(z.string()).nullable().optional(),
    Entrypoint: z.array(z.string()).nullable().optional(),
    Cmd: z.array(z.string()).nullable().optional(),
    Volumes: z.record(z.object({}).passthrough()).nullable().optional(),
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string()).nullable().optional(),
    StopSignal: z.string().optional(),
    Healthcheck: HealthcheckSchema.optional(),
    OnBuild: z.array(z.string()).nullable().optional(),
    Shell: z.array(z.string()).nullable().optional(),
  })
  .passthrough();
export type ImageRunConfig = z.infer<typeof ImageRunConfigSchema>;

export const HistoryEntrySchema = z
  .object({
    created: z.string().optional(),
    created_by: z.string().optional(),
    author: z.string().optional(),
    comment: z.string().optional(),
    empty_layer: z.boolean().optional(),
  })
  .passthrough();
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

export const ImageConfigSchema = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    architecture: z.string(),
    os: z.string(),
    variant: z.string().optional(),
    config: ImageRunConfigSchema.optional(),
    rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string()) }),
    history: z.array(HistoryEntrySchema).optional(),
    // Docker-specific fields kept for `inspect` and the classic builder.
    comment: z.string().optional(),
    parent: z.string().optional(),
    container: z.string().optional(),
    docker_version: z.string().optional(),
  })
  .passthrough();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const DescriptorSchema = z
  .object({
    mediaType: z.string(),
    digest: z.string(),
    size: z.number().int().nonnegative(),
    urls: z.array(z.string()).optional(),
    annotations: z.record(z.string()).optional(),
    platform: z
      .object({
        architecture: z.string(),
        os: z.string(),
        variant: z.string().optional(),
        'os.version': z.string().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    config: DescriptorSchema,
    layers: z.array(DescriptorSchema),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();
export type Manifest = z.infer<typeof ManifestSchema>;

export const IndexSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.string().optional(),
    manifests: z.array(DescriptorSchema),
    annotations: z.record(z.string()).optional(),
  })
  .passthrough();
export type ImageIndex = z.infer<typeof IndexSchema>;
