import { z } from 'zod';
import { lazySchema } from './lazy-schema.js';
import { EndpointSettingsSchema } from './types.js';

// Request bodies and JSON query parameters of the Engine API, beside ContainerCreateRequestSchema.
// JSON null anywhere in these requests means "unset", as in Docker's Go structs.
const str = z.string().nullable().optional();
const strMap = z.record(z.string()).nullable().optional();

export const IpamPoolSchema = lazySchema(() =>
  z.object({ Subnet: str, IPRange: str, Gateway: str, AuxiliaryAddresses: strMap }).passthrough(),
);
export type IpamPool = z.infer<typeof IpamPoolSchema>;

/** `POST /networks/create`. */
export const NetworkCreateRequestSchema = lazySchema(() =>
  z
    .object({
      Name: z.string(),
      Driver: str,
      Internal: z.boolean().nullable().optional(),
      Attachable: z.boolean().nullable().optional(),
      Ingress: z.boolean().nullable().optional(),
      Scope: str,
      EnableIPv6: z.boolean().nullable().optional(),
      IPAM: z
        .object({ Driver: str, Config: z.array(IpamPoolSchema).nullable().optional(), Options: strMap })
        .passthrough()
        .nullable()
        .optional(),
      Options: strMap,
      Labels: strMap,
    })
    .passthrough(),
);
export type NetworkCreateRequest = z.infer<typeof NetworkCreateRequestSchema>;

/** `POST /networks/{id}/connect`. */
export const NetworkConnectRequestSchema = lazySchema(() =>
  z
    .object({ Container: z.string(), EndpointConfig: EndpointSettingsSchema.nullable().optional() })
    .passthrough(),
);
export type NetworkConnectRequest = z.infer<typeof NetworkConnectRequestSchema>;

/** `POST /networks/{id}/disconnect`. */
export const NetworkDisconnectRequestSchema = lazySchema(() =>
  z.object({ Container: z.string(), Force: z.boolean().optional() }).passthrough(),
);

/** `POST /volumes/create`. */
export const VolumeCreateRequestSchema = lazySchema(() =>
  z
    .object({
      Name: z.string().optional(),
      Driver: z.string().optional(),
      DriverOpts: z.record(z.string()).nullable().optional(),
      Labels: z.record(z.string()).nullable().optional(),
    })
    .passthrough(),
);

/** `POST /containers/{id}/exec`. */
export const ExecCreateRequestSchema = lazySchema(() =>
  z
    .object({
      Cmd: z.array(z.string()).min(1, 'No exec command specified'),
      Env: z.array(z.string()).nullable().optional(),
      User: z.string().optional(),
      WorkingDir: z.string().optional(),
      Tty: z.boolean().optional(),
      AttachStdin: z.boolean().optional(),
      AttachStdout: z.boolean().optional(),
      AttachStderr: z.boolean().optional(),
      Privileged: z.boolean().optional(),
      DetachKeys: z.string().nullable().optional(),
      // Go decodes JSON field names case-insensitively; docker-py sends `detachKeys`.
      detachKeys: z.string().nullable().optional(),
    })
    .passthrough(),
);
export type ExecCreateRequest = z.infer<typeof ExecCreateRequestSchema>;

/** `POST /exec/{id}/start`. */
export const ExecStartRequestSchema = lazySchema(() =>
  z.object({ Detach: z.boolean().optional(), Tty: z.boolean().optional() }).passthrough(),
);
export type ExecStartRequest = z.infer<typeof ExecStartRequestSchema>;

/** `X-Registry-Auth` (base64url JSON the docker CLI sends with pull and push) and `POST /auth`. */
export const AuthConfigSchema = lazySchema(() =>
  z
    .object({
      username: z.string().optional(),
      password: z.string().optional(),
      serveraddress: z.string().optional(),
      identitytoken: z.string().optional(),
      registrytoken: z.string().optional(),
    })
    .passthrough(),
);
export type AuthConfig = z.infer<typeof AuthConfigSchema>;

/** `POST /build` query: `buildargs` (a null build arg means "from the environment") and `labels`. */
export const BuildArgsSchema = lazySchema(() => z.record(z.string().nullable()));
export const BuildLabelsSchema = lazySchema(() => z.record(z.string()));
/** `POST /build` query: `ulimits` (`[{"Name":"nofile","Soft":1024,"Hard":2048}]`) and `cachefrom`. */
export const BuildUlimitsSchema = lazySchema(() =>
  z.array(z.object({ Name: z.string(), Soft: z.number().int(), Hard: z.number().int() })),
);
export const BuildCacheFromSchema = lazySchema(() => z.array(z.string()));
/**
 * `POST /build` query, ours (tsctr sends it; Docker has no such parameter): the context holds
 * only the files these COPY/ADD sources read. See {@link BUILD_SENT_SOURCES_PARAM}.
 */
export const BuildSentSourcesSchema = lazySchema(() => z.array(z.string().min(1).max(4096)).max(1000));
/** The query parameter that carries {@link BuildSentSourcesSchema}. */
export const BUILD_SENT_SOURCES_PARAM = 'x-tsctr-sentsources';
/**
 * The `/_ping` answer header in which tsctrd lists what it offers beyond Docker's API; a client
 * uses an extension only when its name is listed (`partial-build-context`: {@link BUILD_SENT_SOURCES_PARAM}).
 */
export const TSCTR_FEATURES_HEADER = 'Tsctr-Features';
export const PARTIAL_BUILD_CONTEXT_FEATURE = 'partial-build-context';
export const TSCTR_FEATURES: readonly string[] = [PARTIAL_BUILD_CONTEXT_FEATURE];
