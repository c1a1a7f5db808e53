import { type ContainerSummary, labelFilterMatches } from '@ts-container/api';
import { familiarName, parseReference } from '@ts-container/image';
import type { ContainerSize } from './changes.js';
import type { ContainerRecord } from './container-store.js';
import { mountsView, statusText } from './containers.js';
import { invalidParameter } from './errors.js';

/** What the queries read of the containers and do to them. */
export interface ContainerCatalog {
  all(): ContainerRecord[];
  get(ref: string): ContainerRecord;
  summary(c: ContainerRecord, imageName: (id: string) => string): ContainerSummary;
  remove(ref: string): Promise<void>;
}

export interface ContainerQueriesOptions {
  containers: ContainerCatalog;
  /** The references an image is tagged with (the image store's `tagsOf`). */
  imageTags: (imageId: string) => string[];
  /** A container's writable layer and whole root filesystem, in bytes. */
  sizeOf: (id: string) => Promise<ContainerSize>;
  /** The default OCI runtime's name, shown as `HostConfig.Runtime`. */
  runtimeName: () => string;
  /** The NetworkSettings to show: networking may blank a stopped container's addresses. */
  networkSettings: (c: ContainerRecord) => Record<string, unknown>;
}

export type Filters = Map<string, string[]>;

export interface ListContainersOptions {
  all?: boolean;
  /** `ps -n N` / `ps -l`: the N newest containers, in any state. */
  limit?: number;
  /** `ps -s`: add SizeRw and SizeRootFs (a walk of each writable layer). */
  size?: boolean;
  filters?: Filters;
}

/** `docker ps`, `docker inspect` and `docker container prune` over the container records. */
export class ContainerQueries {
  constructor(private readonly options: ContainerQueriesOptions) {}

  async list(options: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    const { containers } = this.options;
    const filters = new Map(options.filters ?? []);
    const limit = options.limit !== undefined && options.limit > 0 ? options.limit : undefined;
    // A limit lists containers in any state, as Docker does.
    const all = options.all === true || limit !== undefined;
    let list = containers
      .all()
      .filter((c) => all || c.State.Running || filters.has('status') || filters.has('exited'));
    // before/since name a container; the rest are tested one container at a time.
    for (const key of ['before', 'since'] as const) {
      for (const ref of filters.get(key) ?? []) {
        const created = Date.parse(containers.get(ref).Created);
        list = list.filter((c) =>
          key === 'before' ? Date.parse(c.Created) < created : Date.parse(c.Created) > created,
        );
      }
      filters.delete(key);
    }
    list = list.filter((c) => matchesContainerFilters(c, filters));
    // Newest first; each date parsed once, not once per comparison.
    const created = new Map(list.map((c) => [c, Date.parse(c.Created)]));
    list.sort((a, b) => created.get(b)! - created.get(a)!);
    if (limit !== undefined) list = list.slice(0, limit);
    const summaries = list.map((c) => containers.summary(c, (id) => this.imageName(id)));
    if (options.size) for (const s of summaries) Object.assign(s, await this.options.sizeOf(s.Id));
    return summaries;
  }

  /** `GET /containers/{id}/json`: the record as Docker shows it, unset fields with Docker's defaults. */
  async inspect(ref: string, options: { size?: boolean } = {}): Promise<Record<string, unknown>> {
    const c = this.options.containers.get(ref);
    // Not in Docker's inspect: the user namespace mappings are the daemon's (`docker info` SecurityOptions).
    const { StoppedByUser: _s, IdMappings: _i, State, ...rest } = c;
    const { MonitorPid: _m, ...state } = State;
    // Copied by Object.assign, not spread into literals: V8's spreads of these ~30- and ~60-key
    // objects took ~60 µs once optimised, most of an inspect's cost (assign: ~4 µs). Same keys
    // in the same order: rest's, each given value in its place, then the new ones.
    const inspected: Record<string, unknown> = Object.assign(rest, {
      // Unset fields as Docker shows them (templates such as {{.HostConfig.Memory}} expect values).
      HostConfig: Object.assign(
        Object.create(null) as Record<string, unknown>,
        HOST_CONFIG_DEFAULTS,
        { Runtime: this.options.runtimeName() },
        rest.HostConfig,
      ),
      State: state,
      ResolvConfPath: c.ResolvConfPath,
      Platform: 'linux',
      MountLabel: '',
      ProcessLabel: '',
      AppArmorProfile: '',
      ExecIDs: null,
      GraphDriver: { Name: c.Driver, Data: {} },
      Mounts: mountsView(c),
      NetworkSettings: {
        Bridge: '',
        SandboxID: '',
        Ports: {},
        IPAddress: '',
        Gateway: '',
        MacAddress: '',
        Networks: {},
        ...this.options.networkSettings(c),
      },
      Status: statusText(c),
      ImageName: this.imageName(c.Image),
    });
    if (options.size) Object.assign(inspected, await this.options.sizeOf(c.Id));
    return inspected;
  }

  /** `docker container prune`: stopped containers matching `until`, `label` and `label!`. */
  async prune(
    filters: Filters = new Map(),
  ): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    for (const key of filters.keys())
      if (key !== 'until' && key !== 'label' && key !== 'label!')
        throw invalidParameter(`invalid filter '${key}'`);
    const until = filters.get('until')?.map((v) => parseTimestamp(v) ?? Number.POSITIVE_INFINITY);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of this.options.containers.all()) {
      if (c.State.Running || c.State.Paused || c.State.Restarting) continue;
      if (until && !until.every((t) => Date.parse(c.Created) / 1000 < t)) continue;
      const hasLabel = (v: string) => labelFilterMatches(c.Config.Labels, v);
      if (!(filters.get('label') ?? []).every(hasLabel)) continue;
      if ((filters.get('label!') ?? []).some(hasLabel)) continue;
      reclaimed += (await this.options.sizeOf(c.Id)).SizeRw;
      await this.options.containers.remove(c.Id);
      deleted.push(c.Id);
    }
    return { ContainersDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: reclaimed };
  }

  /** An image as `ps` shows it: its first tag in familiar form, else its ID. */
  imageName(id: string): string {
    const tags = this.options.imageTags(id);
    return tags[0] ? familiarName(parseReference(tags[0])) : id;
  }
}

/**
 * A time as the Engine API takes it (`since`, `until`): Unix seconds with an optional fraction,
 * or an RFC 3339 date; empty and `0` mean unset. Returns Unix seconds.
 */
export function parseTimestamp(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || v === '' || v === '0') return undefined;
  const n = Number(v);
  if (!Number.isNaN(n)) return n;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidParameter(`invalid time value: ${v}`);
  return t / 1000;
}

/** Filter keys whose values must all match (Docker ANDs labels); any one value suffices for the others. */
const ALL_MUST_MATCH = new Set(['label']);

/** `docker ps --filter`: whether a container passes every filter (before/since are the caller's). */
export function matchesContainerFilters(c: ContainerRecord, filters: Filters): boolean {
  for (const [key, values] of filters) {
    const test = (v: string): boolean => {
      switch (key) {
        case 'id':
          return c.Id.startsWith(v);
        case 'name':
          return new RegExp(v).test(c.Name.slice(1));
        case 'status':
          return c.State.Status === v;
        case 'exited':
          return c.State.Status === 'exited' && c.State.ExitCode === Number(v);
        case 'label':
          return labelFilterMatches(c.Config.Labels, v);
        case 'ancestor':
          return c.Config.Image === v || c.Image === v || c.Image.startsWith(`sha256:${v}`);
        case 'network': {
          const networks = (c.NetworkSettings?.Networks ?? {}) as Record<string, { NetworkID?: string }>;
          return Object.entries(networks).some(
            ([name, n]) => name === v || (n.NetworkID ?? '').startsWith(v),
          );
        }
        case 'health':
          return (c.State.Health?.Status ?? 'none') === v;
        case 'publish':
        case 'expose': {
          const [port = '', proto = 'tcp'] = v.split('/');
          const portKey = `${port}/${proto}`;
          if (key === 'expose') return portKey in ((c.Config.ExposedPorts ?? {}) as Record<string, unknown>);
          const bindings = (c.HostConfig.PortBindings ?? {}) as Record<
            string,
            { HostPort?: string }[] | null
          >;
          return Object.values(bindings).some((list) => (list ?? []).some((b) => b.HostPort === port));
        }
        case 'volume':
          return c.MountPoints.some((p) => p.Name === v || p.Destination === v || p.Source === v);
        case 'is-task':
          return v === 'false';
        default:
          throw invalidParameter(`invalid filter '${key}'`);
      }
    };
    const ok = ALL_MUST_MATCH.has(key) ? values.every(test) : values.some(test);
    if (!ok) return false;
  }
  return true;
}

const HOST_CONFIG_DEFAULTS = {
  Binds: null,
  NetworkMode: 'default',
  PortBindings: {},
  RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
  AutoRemove: false,
  CapAdd: null,
  CapDrop: null,
  Dns: [],
  DnsOptions: [],
  DnsSearch: [],
  ExtraHosts: null,
  IpcMode: 'private',
  PidMode: '',
  Privileged: false,
  PublishAllPorts: false,
  ReadonlyRootfs: false,
  SecurityOpt: null,
  ShmSize: 67108864,
  CpuShares: 0,
  Memory: 0,
  NanoCpus: 0,
  CpuPeriod: 0,
  CpuQuota: 0,
  CpusetCpus: '',
  CpusetMems: '',
  MemoryReservation: 0,
  MemorySwap: 0,
  PidsLimit: null,
  Ulimits: null,
  Init: null,
  LogConfig: { Type: 'json-file', Config: {} },
};
