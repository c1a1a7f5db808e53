import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { cpus, hostname, networkInterfaces, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { BridgeNetworking } from './bridge-networking.js';
import type { ContainerStore } from './container-store.js';
import type { ContainerService } from './containers.js';
import { EngineError, invalidParameter, notFound } from './errors.js';
import type { ContainerNetworking } from './networking.js';
import { ENGINE_VERSION } from './version.js';

/** moby's errNoSwarm. */
export const NO_SWARM = 'This node is not part of a swarm';
/** moby's errNoManager: cluster queries and overlay networks on a node outside any swarm. */
export const NO_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** moby's errSwarmExists. */
const SWARM_EXISTS =
  'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';
/** moby's text for leaving without --force as the last manager. */
const LAST_MANAGER =
  'You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.';

const DEFAULT_PORT = 2377;
const DEFAULT_ADDR_POOL = '10.0.0.0/8';
const DEFAULT_SUBNET_SIZE = 24;
const DATA_PATH_PORT = 4789;
/** Docker's ingress network, created with every swarm. */
const INGRESS = { name: 'ingress', subnet: '10.0.0.0/24', gateway: '10.0.0.1' };

/** Docker's default cluster spec (what `docker swarm init` without options gives). */
const defaultSpec = (): Record<string, unknown> => ({
  Name: 'default',
  Labels: {},
  Orchestration: { TaskHistoryRetentionLimit: 5 },
  Raft: {
    SnapshotInterval: 10000,
    KeepOldSnapshots: 0,
    LogEntriesForSlowFollowers: 500,
    ElectionTick: 10,
    HeartbeatTick: 1,
  },
  Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
  CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
  TaskDefaults: {},
  EncryptionConfig: { AutoLockManagers: false },
});

const SwarmStateSchema = z.object({
  version: z.literal(1),
  clusterId: z.string().regex(/^[a-z0-9]{25}$/),
  nodeId: z.string().regex(/^[a-z0-9]{25}$/),
  createdAt: z.string(),
  /** The address other nodes would reach this manager at, `ip:port`. */
  advertiseAddr: z.string(),
  listenAddr: z.string(),
  spec: z.record(z.unknown()),
  joinTokens: z.object({ worker: z.string(), manager: z.string() }),
});
type SwarmState = z.infer<typeof SwarmStateSchema>;

// JSON null means "unset"; unknown fields are ignored.
const str = z.string().nullable().optional();
export const SwarmInitSchema = z
  .object({
    ListenAddr: str,
    AdvertiseAddr: str,
    DataPathAddr: str,
    DataPathPort: z.number().int().nullable().optional(),
    ForceNewCluster: z.boolean().nullable().optional(),
    Spec: z.record(z.unknown()).nullable().optional(),
    AutoLockManagers: z.boolean().nullable().optional(),
    Availability: str,
    DefaultAddrPool: z.array(z.string()).nullable().optional(),
    SubnetSize: z.number().int().nullable().optional(),
  })
  .passthrough();
export type SwarmInitRequest = z.infer<typeof SwarmInitSchema>;

/** swarmkit's identifiers: 25 characters of base 36. */
function newSwarmId(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  let id = '';
  for (let i = 0; i < 25; i++) id += alphabet[randomInt(36)];
  return id;
}

const joinToken = () => `SWMTKN-1-${randomBytes(25).toString('hex')}-${newSwarmId()}`;

/** `host:port` → [host, port]; a bare host (or `:port`) takes the other half from the defaults. */
function splitAddr(value: string, defaultHost: string, defaultPort: number): [string, number] {
  const m = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(value);
  if (!m) throw invalidParameter(`invalid address ${value}`);
  const host = m[1] ?? m[2] ?? '';
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) throw invalidParameter(`invalid port in address ${value}`);
  return [host || defaultHost, port];
}

/** An interface name stands for its IPv4 address, as in Docker's --advertise-addr eth0. */
function resolveHost(host: string): string {
  if (isIP(host)) return host;
  const addrs = (networkInterfaces()[host] ?? []).filter((a) => a.family === 'IPv4');
  if (!addrs[0])
    throw invalidParameter(
      `advertise address must be a non-zero IP address or network interface (with optional port number): ${host}`,
    );
  return addrs[0].address;
}

/** The only non-loopback IPv4 address, as moby picks one when --advertise-addr is not given. */
function defaultAdvertiseHost(): string {
  const found = Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .filter((a) => a.family === 'IPv4' && !a.internal)
    .map((a) => a.address);
  const unique = [...new Set(found)];
  if (unique.length !== 1)
    throw invalidParameter(
      'could not choose an IP address to advertise since this system has multiple addresses or none; use --advertise-addr',
    );
  return unique[0] as string;
}

/** Merges a requested cluster spec over the defaults, section by section. */
function mergeSpec(requested: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const spec = defaultSpec();
  for (const [key, value] of Object.entries(requested ?? {})) {
    if (value === null || value === undefined) continue;
    const base = spec[key];
    spec[key] =
      typeof value === 'object' && !Array.isArray(value) && base && typeof base === 'object'
        ? { ...(base as object), ...(value as object) }
        : value;
  }
  return spec;
}

/**
 * Single-node swarm mode: `swarm init` makes this engine the one manager of a cluster of one
 * node; the state lives in `<dataRoot>/swarm/state.json`. Overlay networks are the only swarm
 * objects: on one node their data plane is a local bridge. Services, secrets and configs need an
 * orchestrator this engine does not have and are refused; joining other nodes is not supported.
 */
/** What swarm mode uses: the daemon's networking, and containers to disconnect on leave. */
export interface SwarmDeps {
  options: { networking?: ContainerNetworking | undefined };
  containers: Pick<ContainerService, 'get'>;
  containerStore: Pick<ContainerStore, 'update'>;
}

export class SwarmService {
  private state: SwarmState | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly engine: SwarmDeps,
    private readonly dir: string,
  ) {}

  static async open(engine: SwarmDeps, dir: string): Promise<SwarmService> {
    const service = new SwarmService(engine, dir);
    await service.load();
    return service;
  }

  private get path(): string {
    return join(this.dir, 'state.json');
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new EngineError('system', `swarm state ${this.path} is invalid: not JSON`, { cause: err });
    }
    const parsed = SwarmStateSchema.safeParse(json);
    if (!parsed.success)
      throw new EngineError('system', `swarm state ${this.path} is invalid: ${parsed.error.message}`);
    this.state = parsed.data;
  }

  private async save(state: SwarmState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // Temp file + rename: a crash leaves the old state or the new one, never half of one.
    const temp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, this.path);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  get active(): boolean {
    return this.state !== undefined;
  }

  /** Throws moby's errNoManager unless this node manages a swarm. */
  assertManager(): SwarmState {
    if (!this.state) throw new EngineError('unavailable', NO_MANAGER);
    return this.state;
  }

  private networkManager() {
    const n = this.engine.options.networking;
    if (!(n instanceof BridgeNetworking))
      throw new EngineError(
        'unavailable',
        'swarm mode needs networking, which is not enabled in this daemon',
      );
    return n;
  }

  /** `docker swarm init`: returns the node ID. */
  init(request: SwarmInitRequest): Promise<string> {
    return this.serial(async () => {
      if (this.state) throw new EngineError('unavailable', SWARM_EXISTS);
      const pools = request.DefaultAddrPool ?? [];
      if (pools.length > 0 && (pools.length !== 1 || pools[0] !== DEFAULT_ADDR_POOL))
        throw new EngineError(
          'not-implemented',
          `only the default address pool ${DEFAULT_ADDR_POOL} is supported`,
        );
      if (request.SubnetSize && request.SubnetSize !== DEFAULT_SUBNET_SIZE)
        throw new EngineError(
          'not-implemented',
          `only the default subnet size ${DEFAULT_SUBNET_SIZE} is supported`,
        );
      if (request.AutoLockManagers)
        throw new EngineError(
          'not-implemented',
          'autolock of swarm managers is not supported by this engine',
        );
      const [listenHost, listenPort] = splitAddr(request.ListenAddr || '', '0.0.0.0', DEFAULT_PORT);
      const [advertiseHost, advertisePort] = splitAddr(request.AdvertiseAddr || '', '', listenPort);
      const host = advertiseHost
        ? resolveHost(advertiseHost)
        : listenHost !== '0.0.0.0'
          ? resolveHost(listenHost)
          : defaultAdvertiseHost();
      const state: SwarmState = {
        version: 1,
        clusterId: newSwarmId(),
        nodeId: newSwarmId(),
        createdAt: new Date().toISOString(),
        advertiseAddr: `${host}:${advertisePort}`,
        listenAddr: `${listenHost}:${listenPort}`,
        spec: mergeSpec(request.Spec),
        joinTokens: { worker: joinToken(), manager: joinToken() },
      };
      const manager = this.networkManager().manager;
      const ingress = await manager.createNetwork({
        name: INGRESS.name,
        driver: 'overlay',
        subnet: INGRESS.subnet,
        gateway: INGRESS.gateway,
        ingress: true,
      });
      try {
        await this.save(state);
      } catch (err) {
        await manager.removeNetwork(ingress.Id);
        throw err;
      }
      this.state = state;
      return state.nodeId;
    });
  }

  /**
   * `docker swarm leave`: the last manager leaves only with force. Containers are disconnected
   * from the swarm's networks (as Docker does), the networks removed, then the state.
   */
  leave(force: boolean): Promise<void> {
    return this.serial(async () => {
      if (!this.state) throw new EngineError('unavailable', NO_SWARM);
      if (!force) throw new EngineError('unavailable', LAST_MANAGER);
      await this.removeSwarmNetworks();
      await rm(this.path, { force: true });
      this.state = undefined;
    });
  }

  /**
   * After the networking is up at start-up: swarm networks without a swarm (a crash between
   * creating `ingress` and saving the state, or in the middle of a leave) are removed.
   */
  reconcile(): Promise<void> {
    return this.serial(async () => {
      if (!this.state && this.engine.options.networking instanceof BridgeNetworking)
        await this.removeSwarmNetworks();
    });
  }

  /** Disconnects containers from the swarm's networks (as Docker does on leave), then removes them. */
  private async removeSwarmNetworks(): Promise<void> {
    const networking = this.networkManager();
    const swarmNetworks = (await networking.manager.listNetworks()).filter((n) => n.Scope === 'swarm');
    for (const network of swarmNetworks) {
      for (const containerId of Object.keys(network.Containers)) {
        const c = this.engine.containers.get(containerId);
        const settings = await networking.disconnect(c, network.Id);
        await this.engine.containerStore.update(c.Id, (r) => {
          r.NetworkSettings = settings as typeof r.NetworkSettings;
        });
      }
      await networking.manager.removeNetwork(network.Id);
    }
  }

  /** `GET /swarm`: the cluster with its join tokens. */
  inspect(): Record<string, unknown> {
    const state = this.assertManager();
    return {
      ...this.cluster(state),
      JoinTokens: { Worker: state.joinTokens.worker, Manager: state.joinTokens.manager },
    };
  }

  private cluster(state: SwarmState): Record<string, unknown> {
    return {
      ID: state.clusterId,
      Version: { Index: 10 },
      CreatedAt: state.createdAt,
      UpdatedAt: state.createdAt,
      Spec: state.spec,
      TLSInfo: { TrustRoot: '', CertIssuerSubject: '', CertIssuerPublicKey: '' },
      RootRotationInProgress: false,
      DefaultAddrPool: [DEFAULT_ADDR_POOL],
      SubnetSize: DEFAULT_SUBNET_SIZE,
      DataPathPort: DATA_PATH_PORT,
    };
  }

  /** `GET /info`'s Swarm section. */
  info(): Record<string, unknown> {
    const state = this.state;
    if (!state)
      return {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      };
    return {
      NodeID: state.nodeId,
      NodeAddr: splitAddr(state.advertiseAddr, '', DEFAULT_PORT)[0],
      LocalNodeState: 'active',
      ControlAvailable: true,
      Error: '',
      RemoteManagers: [{ NodeID: state.nodeId, Addr: state.advertiseAddr }],
      Nodes: 1,
      Managers: 1,
      Cluster: this.cluster(state),
    };
  }

  /** `GET /nodes`: this node, the swarm's only one. */
  nodes(): Record<string, unknown>[] {
    return [this.node(this.assertManager())];
  }

  /** `GET /nodes/{id}`: by ID, unique ID prefix or hostname. */
  findNode(ref: string): Record<string, unknown> {
    const state = this.assertManager();
    if (ref === state.nodeId || (ref !== '' && state.nodeId.startsWith(ref)) || ref === hostname())
      return this.node(state);
    throw notFound(`node ${ref} not found`);
  }

  private node(state: SwarmState): Record<string, unknown> {
    return {
      ID: state.nodeId,
      Version: { Index: 9 },
      CreatedAt: state.createdAt,
      UpdatedAt: state.createdAt,
      Spec: { Labels: {}, Role: 'manager', Availability: 'active' },
      Description: {
        Hostname: hostname(),
        Platform: { Architecture: process.arch === 'x64' ? 'x86_64' : process.arch, OS: 'linux' },
        Resources: { NanoCPUs: cpus().length * 1e9, MemoryBytes: totalmem() },
        Engine: {
          EngineVersion: ENGINE_VERSION,
          Plugins: [
            { Type: 'Network', Name: 'bridge' },
            { Type: 'Network', Name: 'host' },
            { Type: 'Network', Name: 'null' },
            { Type: 'Network', Name: 'overlay' },
            { Type: 'Volume', Name: 'local' },
          ],
        },
        TLSInfo: { TrustRoot: '', CertIssuerSubject: '', CertIssuerPublicKey: '' },
      },
      Status: { State: 'ready', Addr: splitAddr(state.advertiseAddr, '', DEFAULT_PORT)[0] },
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: state.advertiseAddr },
    };
  }
}
