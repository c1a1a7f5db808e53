import { rm } from 'node:fs/promises';
import type { PortProtocol } from '@ts-container/common';
import { type Logger, silentLogger } from '@ts-container/common';
import { BridgeDriver } from './bridge-driver.js';
import type { ManagerContext } from './context.js';
import { EndpointService } from './endpoints.js';
import { NetworkError, invalidParameter, systemError } from './errors.js';
import { type Firewall, type FirewallBackend, createFirewall, firewallRules } from './firewall.js';
import { NetworkService } from './networks.js';
import { PortAllocator } from './port-allocator.js';
import { MAX_IFNAME, bridgeNetworks } from './records.js';
import { repairEndpoints, repairPorts } from './repair.js';
import { Resolver } from './resolver.js';
import { type NetworkState, type PublishedPort, StateStore, emptyState } from './state.js';
import type {
  ConnectOptions,
  CreateNetworkOptions,
  EndpointInfo,
  EndpointSettings,
  InitOptions,
  NetworkInspect,
  NetworkManagerOptions,
  PortBindingRequest,
  ResolvedNetworkMode,
  ResolvedPortBinding,
} from './types.js';
import { UserlandProxy } from './userland-proxy.js';

/**
 * Bridge networking for containers: networks (Docker's bridge/host/none and user-defined bridges),
 * IPAM leases, veth endpoints in container namespaces, isolation and NAT rules, published ports
 * (kernel DNAT plus an in-process userland proxy) and an embedded DNS server per user network.
 *
 * A facade, as libnetwork's controller: it holds the state (one lock, one atomically written file)
 * and wires the parts, each in its own module: the bridge driver (kernel objects), IPAM, the port
 * allocator, the resolver (embedded DNS), the firewall and crash repair; networks and endpoints
 * are services over them. The kernel objects are derived from the state, so `init()` after a
 * crash brings the kernel back in line with it.
 */
export class NetworkManager {
  private readonly store: StateStore;
  private readonly logger: Logger;
  private readonly userlandProxy: boolean;
  private readonly proxy: UserlandProxy;
  private readonly driver: BridgeDriver;
  private readonly resolver: Resolver;
  private readonly networks: NetworkService;
  private readonly endpointService: EndpointService;
  private state: NetworkState = emptyState();
  private firewall: Firewall | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private initialized = false;

  constructor(private readonly options: NetworkManagerOptions) {
    if (options.defaultBridge.name.length > MAX_IFNAME) {
      throw invalidParameter(
        `bridge name ${options.defaultBridge.name} is longer than ${MAX_IFNAME} characters`,
      );
    }
    this.store = new StateStore(options.stateDir);
    this.logger = options.logger ?? silentLogger;
    this.userlandProxy = options.userlandProxy ?? true;
    this.proxy = new UserlandProxy(this.logger);
    this.driver = new BridgeDriver({ logger: this.logger, userlandProxy: this.userlandProxy });
    this.resolver = new Resolver({
      port: options.dnsPort,
      resolvConfPath: options.resolvConfPath,
      logger: this.logger,
    });
    const manager = this;
    const context: ManagerContext = {
      get state() {
        return manager.state;
      },
      save: () => this.store.save(this.state),
      applyFirewall: () => this.applyFirewall(),
      driver: this.driver,
      resolver: this.resolver,
      logger: this.logger,
    };
    const allocator = new PortAllocator({ binder: { bind: (port) => this.bindHostPort(port) } });
    this.networks = new NetworkService(context);
    this.endpointService = new EndpointService(context, allocator, this.proxy);
  }

  /** Path of the state file (networks, endpoints with their leases, published ports). */
  get stateFile(): string {
    return this.store.path;
  }

  get firewallBackend(): FirewallBackend | undefined {
    return this.firewall?.backend;
  }

  /**
   * Loads state, creates the predefined networks, enables forwarding, installs the firewall and
   * repairs what a crash left behind (endpoints of dead containers, stray veths, stale rules).
   */
  init(options: InitOptions = {}): Promise<void> {
    return this.locked(async () => {
      await this.store.removeTempFiles();
      this.state = await this.store.load();
      this.firewall = await this.createFirewall();
      await this.networks.ensurePredefined(this.options.defaultBridge);
      await this.driver.enableForwarding();
      for (const network of bridgeNetworks(this.state.networks)) await this.driver.setUpBridge(network);
      await repairEndpoints(this.state.networks, () => this.state.endpoints, {
        endpointExists: (e) => this.driver.endpointExists(e),
        isAlive: options.isEndpointAlive,
        removeEndpoint: (e) => this.endpointService.remove(e),
        attachToBridge: (veth, bridge) => this.driver.attachToBridge(veth, bridge),
        bridgePorts: (bridge) => this.driver.bridgePorts(bridge),
        deleteLink: (name) => this.driver.deleteLink(name),
        logger: this.logger,
      });
      this.state.ports = await repairPorts(
        this.state.ports,
        this.state.endpoints,
        (port) => this.bindHostPort(port),
        this.logger,
      );
      await this.store.save(this.state);
      await this.applyFirewall();
      for (const network of bridgeNetworks(this.state.networks)) await this.networks.startDns(network);
      this.initialized = true;
    });
  }

  /**
   * Stops the in-process parts (DNS servers, userland proxy) and leaves the kernel state for a
   * later init() (a daemon restart with live containers).
   */
  close(): Promise<void> {
    return this.locked(async () => {
      this.initialized = false;
      await this.proxy.closeAll();
      await this.resolver.stopAll();
    });
  }

  /** Removes everything this manager created: veths, bridges, firewall rules and the state file. */
  teardown(): Promise<void> {
    return this.locked(async () => {
      // Also usable on a fresh manager to clean up after an earlier process.
      if (!this.initialized) this.state = await this.store.load().catch(() => this.state);
      this.initialized = false;
      await this.proxy.closeAll();
      await this.resolver.stopAll();
      for (const endpoint of this.state.endpoints) await this.driver.deleteEndpoint(endpoint);
      for (const network of bridgeNetworks(this.state.networks))
        if (network.bridge) await this.driver.deleteLink(network.bridge);
      const firewall = this.firewall ?? (await this.createFirewall());
      await firewall.remove();
      this.state = emptyState();
      await rm(this.store.path, { force: true });
    });
  }

  // ---- networks ----

  /**
   * A user-defined network. Driver "overlay" makes a swarm-scoped network whose data plane is a
   * local bridge (a single-node swarm has no other host to tunnel to); the caller checks that the
   * node is a swarm manager.
   */
  createNetwork(options: CreateNetworkOptions): Promise<NetworkInspect> {
    return this.writing(() => this.networks.create(options));
  }

  listNetworks(): Promise<NetworkInspect[]> {
    return this.reading(() => this.state.networks.map((n) => this.networks.inspect(n)));
  }

  /** By full name, full id or unique id prefix; throws `network X not found` like Docker. */
  inspectNetwork(idOrName: string): Promise<NetworkInspect> {
    return this.reading(() => this.networks.inspect(this.networks.lookup(idOrName)));
  }

  removeNetwork(idOrName: string): Promise<void> {
    return this.writing(() => this.networks.remove(this.networks.lookup(idOrName)));
  }

  /** Removes user-defined networks without endpoints; returns their names (Docker's NetworksDeleted). */
  pruneNetworks(filter: { labels?: Record<string, string> } = {}): Promise<string[]> {
    return this.writing(() => this.networks.prune(filter));
  }

  /** Resolves a `--network` value; a name that is no network gives Docker's `network X not found`. */
  resolveNetworkMode(value: string): Promise<ResolvedNetworkMode> {
    return this.reading(() => this.networks.resolveNetworkMode(value));
  }

  /** Address `--add-host name:host-gateway` stands for: the default bridge's gateway. */
  hostGatewayIp(): string | undefined {
    return this.state.networks.find((n) => n.name === 'bridge')?.gateway;
  }

  // ---- endpoints ----

  connect(options: ConnectOptions): Promise<EndpointInfo> {
    return this.writing(() => this.endpointService.connect(options));
  }

  disconnect(containerId: string, networkIdOrName: string): Promise<void> {
    return this.writing(() => this.endpointService.disconnect(containerId, networkIdOrName));
  }

  /** Disconnects a container from every network (container stop/removal); no error when it has none. */
  disconnectAll(containerId: string): Promise<void> {
    return this.writing(() => this.endpointService.disconnectAll(containerId));
  }

  /** The container's endpoints, for `NetworkSettings` and resolv.conf. */
  endpoints(containerId: string): Promise<EndpointInfo[]> {
    return this.reading(() => this.endpointService.list(containerId));
  }

  /** `NetworkSettings.Networks` and `NetworkSettings.Ports` of `docker inspect` for a container. */
  containerNetworkSettings(
    containerId: string,
    exposedPorts: readonly string[] = [],
  ): Promise<{
    Networks: Record<string, EndpointSettings>;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  }> {
    return this.reading(() => this.endpointService.settings(containerId, exposedPorts));
  }

  // ---- published ports ----

  /**
   * Publishes container ports on the host (idempotent: publishing the same binding again returns it).
   * Each binding gets a kernel DNAT rule and, for tcp/udp, a userland proxy listener which also
   * holds the host port. Throws Docker's `Bind for 0.0.0.0:8080 failed: port is already allocated`.
   */
  publishPorts(
    containerId: string,
    containerIp: string,
    bindings: readonly PortBindingRequest[],
  ): Promise<ResolvedPortBinding[]> {
    return this.writing(() => this.endpointService.publish(containerId, containerIp, bindings));
  }

  /** Removes the container's published ports (all, or those matching `bindings`). */
  unpublishPorts(containerId: string, bindings?: readonly PortBindingRequest[]): Promise<void> {
    return this.writing(() => this.endpointService.unpublish(containerId, bindings));
  }

  /** The container's published ports (`docker port`). */
  listPorts(containerId: string): Promise<ResolvedPortBinding[]> {
    return this.reading(() => this.endpointService.listPorts(containerId));
  }

  /** Packets the kernel DNATed for a published host port (diagnostics; shows the kernel path was used). */
  dnatPacketCount(hostPort: number, protocol: PortProtocol = 'tcp'): Promise<number> {
    if (!this.firewall) throw systemError('network manager is not initialized');
    return this.firewall.dnatPacketCount(hostPort, protocol);
  }

  // ---- internals ----

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A change, on an initialized manager, serialised with every other operation. */
  private writing<T>(fn: () => Promise<T>): Promise<T> {
    return this.locked(async () => {
      this.assertInitialized();
      return fn();
    });
  }

  /** A read-only operation: serialised with the writers so it never sees half an update. */
  private reading<T>(fn: () => T): Promise<T> {
    return this.locked(async () => {
      this.assertInitialized();
      return fn();
    });
  }

  private assertInitialized(): void {
    if (!this.initialized)
      throw new NetworkError('unavailable', 'network manager is not initialized; call init()');
  }

  private createFirewall(): Promise<Firewall> {
    return createFirewall(this.options.firewallTable, this.options.firewallBackend ?? 'auto', this.logger);
  }

  /** The userland proxy's listener holds the host port (it has no SCTP: the DNAT rule alone serves it). */
  private async bindHostPort(port: PublishedPort): Promise<void> {
    if (port.protocol !== 'sctp')
      await this.proxy.add({ ...port, protocol: port.protocol }, this.userlandProxy);
  }

  private async applyFirewall(): Promise<void> {
    if (!this.firewall) return;
    await this.firewall.apply(
      firewallRules(bridgeNetworks(this.state.networks), this.state.ports, this.userlandProxy),
    );
  }
}
