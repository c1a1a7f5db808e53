import type { z } from 'zod';
import { EngineClient, type RequestOptions } from './client.js';
import { ApiResponseError } from './errors.js';
import type {
  ExecCreateRequest,
  NetworkConnectRequest,
  NetworkCreateRequest,
  VolumeCreateRequestSchema,
} from './requests.js';
import {
  BuildCachePruneSchema,
  ContainerChangesSchema,
  ContainerInspectSchema,
  ContainerListSchema,
  ContainerPruneSchema,
  ContainerTopSchema,
  ContainerWaitSchema,
  CreateResponseSchema,
  DiskUsageSchema,
  ExecInspectSchema,
  ImageDeleteSchema,
  ImageHistorySchema,
  ImageInspectSchema,
  ImageListSchema,
  ImagePruneSchema,
  NetworkListSchema,
  NetworkPruneSchema,
  NetworkSchema,
  SystemInfoSchema,
  VersionResponseSchema,
  VolumeListSchema,
  VolumePruneSchema,
  VolumeSchema,
} from './responses.js';
import type { ContainerCreateRequest } from './types.js';

type Query = RequestOptions['query'];
type Filters = Record<string, string[]>;

/** `filters` as the Engine API takes it: a JSON object of string arrays (omitted when empty). */
function filtersQuery(filters: Filters | undefined): string | undefined {
  return filters && Object.keys(filters).length > 0 ? JSON.stringify(filters) : undefined;
}

/**
 * The Engine API with typed answers: each method checks its response against the schema in
 * `responses.ts` (unknown fields pass through, as Docker adds fields) and throws
 * {@link ApiResponseError}, naming the endpoint, when the daemon answers something else.
 */
export class ApiClient extends EngineClient {
  /**
   * Sends a request and checks its JSON answer against `schema`. The answer is returned as the
   * daemon sent it, key order included (the schemas only validate: no transforms or defaults),
   * so a caller that prints it as JSON prints what Docker would.
   */
  async checked<S extends z.ZodTypeAny>(
    method: string,
    path: string,
    schema: S,
    options: RequestOptions = {},
  ): Promise<z.output<S>> {
    const body = await this.request<unknown>(method, path, options);
    const result = schema.safeParse(body);
    if (!result.success) throw new ApiResponseError(`${method} ${path}`, result.error.issues);
    return body as z.output<S>;
  }

  serverVersion() {
    return this.checked('GET', '/version', VersionResponseSchema);
  }

  info() {
    return this.checked('GET', '/info', SystemInfoSchema);
  }

  containerList(
    options: { all?: boolean; limit?: number | undefined; size?: boolean; filters?: Filters } = {},
  ) {
    const query: Query = {
      ...(options.all ? { all: 1 } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      ...(options.size ? { size: 1 } : {}),
      filters: filtersQuery(options.filters),
    };
    return this.checked('GET', '/containers/json', ContainerListSchema, { query });
  }

  containerInspect(ref: string, options: { size?: boolean } = {}) {
    return this.checked('GET', `/containers/${encodeURIComponent(ref)}/json`, ContainerInspectSchema, {
      query: options.size ? { size: 1 } : {},
    });
  }

  containerTop(ref: string, psArgs?: string) {
    return this.checked('GET', `/containers/${encodeURIComponent(ref)}/top`, ContainerTopSchema, {
      query: psArgs ? { ps_args: psArgs } : {},
    });
  }

  containerChanges(ref: string) {
    return this.checked('GET', `/containers/${encodeURIComponent(ref)}/changes`, ContainerChangesSchema);
  }

  execCreate(container: string, request: ExecCreateRequest) {
    return this.checked('POST', `/containers/${encodeURIComponent(container)}/exec`, CreateResponseSchema, {
      body: request,
    });
  }

  execInspect(id: string) {
    return this.checked('GET', `/exec/${encodeURIComponent(id)}/json`, ExecInspectSchema);
  }

  /** Waits for the container to reach `condition` (Docker's default: `not-running`). */
  containerWait(ref: string, condition?: 'not-running' | 'next-exit' | 'removed') {
    return this.checked('POST', `/containers/${encodeURIComponent(ref)}/wait`, ContainerWaitSchema, {
      query: condition ? { condition } : {},
    });
  }

  containerCreate(request: ContainerCreateRequest, name?: string) {
    return this.checked('POST', '/containers/create', CreateResponseSchema, {
      body: request,
      query: { name },
    });
  }

  containerPrune(filters?: Filters) {
    return this.checked('POST', '/containers/prune', ContainerPruneSchema, {
      query: { filters: filtersQuery(filters) },
    });
  }

  imageList(options: { all?: boolean; digests?: boolean; filters?: Filters } = {}) {
    return this.checked('GET', '/images/json', ImageListSchema, {
      query: {
        ...(options.all ? { all: 1 } : {}),
        filters: filtersQuery(options.filters),
        ...(options.digests ? { digests: 1 } : {}),
      },
    });
  }

  /** Image references go into the path as given (`library/busybox:1` included), as Docker's client does. */
  imageInspect(name: string) {
    return this.checked('GET', `/images/${name}/json`, ImageInspectSchema);
  }

  imageHistory(name: string) {
    return this.checked('GET', `/images/${name}/history`, ImageHistorySchema);
  }

  imageRemove(name: string, options: { force?: boolean; noprune?: boolean } = {}) {
    return this.checked('DELETE', `/images/${name}`, ImageDeleteSchema, {
      query: { ...(options.force ? { force: 1 } : {}), ...(options.noprune ? { noprune: 1 } : {}) },
    });
  }

  imagePrune(filters?: Filters) {
    return this.checked('POST', '/images/prune', ImagePruneSchema, {
      query: { filters: filtersQuery(filters) },
    });
  }

  volumeCreate(request: z.input<typeof VolumeCreateRequestSchema>) {
    return this.checked('POST', '/volumes/create', VolumeSchema, { body: request });
  }

  volumeList(filters?: Filters) {
    return this.checked('GET', '/volumes', VolumeListSchema, { query: { filters: filtersQuery(filters) } });
  }

  volumeInspect(name: string) {
    return this.checked('GET', `/volumes/${encodeURIComponent(name)}`, VolumeSchema);
  }

  volumePrune(filters?: Filters) {
    return this.checked('POST', '/volumes/prune', VolumePruneSchema, {
      query: { filters: filtersQuery(filters) },
    });
  }

  networkList(filters?: Filters) {
    return this.checked('GET', '/networks', NetworkListSchema, { query: { filters: filtersQuery(filters) } });
  }

  networkCreate(request: NetworkCreateRequest) {
    return this.checked('POST', '/networks/create', CreateResponseSchema, { body: request });
  }

  networkInspect(ref: string) {
    return this.checked('GET', `/networks/${encodeURIComponent(ref)}`, NetworkSchema);
  }

  networkPrune(filters?: Filters) {
    return this.checked('POST', '/networks/prune', NetworkPruneSchema, {
      query: { filters: filtersQuery(filters) },
    });
  }

  async networkConnect(network: string, request: NetworkConnectRequest): Promise<void> {
    await this.request('POST', `/networks/${encodeURIComponent(network)}/connect`, { body: request });
  }

  async networkDisconnect(network: string, container: string, force = false): Promise<void> {
    await this.request('POST', `/networks/${encodeURIComponent(network)}/disconnect`, {
      body: { Container: container, Force: force },
    });
  }

  buildCachePrune(options: { all?: boolean } = {}) {
    return this.checked('POST', '/build/prune', BuildCachePruneSchema, {
      query: options.all ? { all: 1 } : {},
    });
  }

  systemDf(types: string[] = []) {
    return this.checked('GET', '/system/df', DiskUsageSchema, { query: { type: types } });
  }
}
