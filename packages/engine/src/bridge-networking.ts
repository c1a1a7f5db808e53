import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerCreateRequest } from '@ts-container/api';
import { publishAllMappings } from '@ts-container/common';
import {
  type EndpointInfo,
  type NetworkManager,
  buildHostsFile,
  buildResolvConf,
  createNetns,
  removeNetns,
} from '@ts-container/network';
import { unmount } from '@ts-container/unionfs';
import { type ContainerLookup, linkHostEntries, namespaceOwner } from './bridge-container-refs.js';
import {
  type EndpointConfig,
  blankNetworkSettings,
  endpointConfig,
  isDerivedMac,
  networksOf,
} from './bridge-network-settings.js';
import { portBindingRequests } from './bridge-port-bindings.js';
import type { ContainerRecord } from './container-store.js';
import { EngineError, conflict, invalidParameter, notFound } from './errors.js';
import type { ContainerNetworkSetup, ContainerNetworking } from './networking.js';

// The settings shapes moved to their own module; re-exported for the engine's index and callers.
export { type EndpointConfig, blankNetworkSettings, endpointConfig } from './bridge-network-settings.js';

export type { ContainerLookup } from './bridge-container-refs.js';

export interface BridgeNetworkingOptions {
  manager: NetworkManager;
  /** Where each container's network namespace file lives: `<netnsDir>/<id>`. */
  netnsDir: string;
  /**
   * The engine's containers; undefined until the engine has loaded them (the engine is built
   * with this networking, so it cannot exist when the networking is constructed).
   */
  containers: () => ContainerLookup | undefined;
  hostResolvConfPath?: string;
  hostHostsPath?: string;
  logger?: { warn(msg: string): void };
}

/**
 * Docker's networking for containers over @ts-container/network: one network namespace file per
 * container, the `bridge`/`host`/`none`/`container:NAME` modes and user-defined networks,
 * published ports, and the resolv.conf and hosts files each mode calls for.
 */
export class BridgeNetworking implements ContainerNetworking {
  readonly manager: NetworkManager;
  private readonly options: BridgeNetworkingOptions;
  private initialized: Promise<void> | undefined;
  private swept = false;

  constructor(options: BridgeNetworkingOptions) {
    this.options = options;
    this.manager = options.manager;
  }

  netnsPath(containerId: string): string {
    return join(this.options.netnsDir, containerId);
  }

  /**
   * Brings the kernel in line with the saved state (safe to call more than once). Once the
   * containers are known, endpoints and namespaces of containers that are not running go.
   */
  async init(): Promise<void> {
    this.initialized ??= this.manager.init({
      isEndpointAlive: (id) => {
        const containers = this.options.containers();
        // Before the engine has loaded its containers: alive while the namespace exists.
        if (!containers) return true;
        return containers.find(id)?.State.Running === true;
      },
    });
    await this.initialized;
    const containers = this.options.containers();
    if (this.swept || !containers) return;
    this.swept = true;
    const running = (id: string) => containers.find(id)?.State.Running === true;
    for (const network of await this.manager.listNetworks()) {
      for (const id of Object.keys(network.Containers)) {
        if (!running(id)) await this.manager.disconnectAll(id);
      }
    }
    const files = await readdir(this.options.netnsDir).catch(() => [] as string[]);
    for (const id of files) if (!running(id)) await removeNetns(this.netnsPath(id));
  }

  async prepare(request: ContainerCreateRequest): Promise<Record<string, unknown>> {
    await this.init();
    const hc = request.HostConfig ?? {};
    const mode = hc.NetworkMode || 'bridge';
    const requested = request.NetworkingConfig?.EndpointsConfig ?? {};
    if (mode.startsWith('container:')) {
      const other = mode.slice('container:'.length);
      if (!this.options.containers()?.find(other)) throw notFound(`No such container: ${other}`);
      if (hc.PortBindings && Object.keys(hc.PortBindings).length > 0)
        throw conflict('conflicting options: port publishing and the container type network mode');
      // The container takes the other's host name at start (see joinContainer).
      if (request.Hostname) throw conflict('conflicting options: hostname and the network mode');
      return blankNetworkSettings();
    }
    const resolved = await this.manager.resolveNetworkMode(mode);
    const name =
      resolved.kind === 'host'
        ? 'host'
        : resolved.kind === 'none'
          ? 'none'
          : resolved.kind === 'bridge' || resolved.kind === 'network'
            ? resolved.networkName
            : 'bridge';
    const network = await this.manager.inspectNetwork(name);
    const config = endpointConfig(requested[mode] ?? requested[name] ?? requested[network.Id]);
    if (!config.MacAddress && request.MacAddress) config.MacAddress = request.MacAddress;
    if (name === 'bridge') {
      if (config.IPAMConfig?.IPv4Address)
        throw invalidParameter('user specified IP address is supported on user defined networks only');
      if (config.Aliases?.length)
        throw invalidParameter(
          'network-scoped alias is supported only for containers in user defined networks',
        );
    }
    if (hc.PortBindings) portBindingRequests(hc.PortBindings); // validates
    return blankNetworkSettings({ [name]: { ...config, NetworkID: network.Id } });
  }

  async setup(c: ContainerRecord): Promise<ContainerNetworkSetup> {
    await this.init();
    const mode = c.HostConfig.NetworkMode || 'bridge';
    const hostResolvConf = await readFile(
      this.options.hostResolvConfPath ?? '/etc/resolv.conf',
      'utf8',
    ).catch(() => '');
    const hostname = c.Config.Hostname || c.Id.slice(0, 12);
    const dnsOptions = {
      dns: c.HostConfig.Dns ?? undefined,
      dnsSearch: c.HostConfig.DnsSearch ?? undefined,
      dnsOptions: c.HostConfig.DnsOptions ?? undefined,
    };
    const extraHosts = c.HostConfig.ExtraHosts ?? [];
    const hostGatewayIp = this.manager.hostGatewayIp();

    if (mode.startsWith('container:')) return this.joinContainer(c, mode.slice('container:'.length));

    const resolved = await this.manager.resolveNetworkMode(mode);
    if (resolved.kind === 'host') {
      const network = await this.manager.inspectNetwork('host');
      const hostHosts = await readFile(this.options.hostHostsPath ?? '/etc/hosts', 'utf8').catch(() => '');
      const settings = blankNetworkSettings({ host: { NetworkID: network.Id } }, { id: c.Id });
      return {
        namespace: { mode: 'host' },
        settings,
        resolvConf: buildResolvConf({ mode: 'host', hostResolvConf, ...dnsOptions }).content,
        hosts: buildHostsFile({ hostname, hostHostsFile: hostHosts, extraHosts, hostGatewayIp }),
      };
    }

    const path = this.netnsPath(c.Id);
    await removeNetns(path); // a leftover from a crash
    if (resolved.kind === 'none') {
      // Nothing is ever wired into it (`network connect` refuses none): the OCI runtime makes
      // the namespace and brings `lo` up itself, two process starts fewer on each start and stop.
      // Containers joining it do so through the process (see joinContainer).
      const network = await this.manager.inspectNetwork('none');
      return {
        namespace: { mode: 'new' },
        settings: blankNetworkSettings({ none: { NetworkID: network.Id } }, { id: c.Id }),
        resolvConf: buildResolvConf({ mode: 'none', hostResolvConf, ...dnsOptions }).content,
        hosts: buildHostsFile({ hostname, extraHosts, hostGatewayIp }),
      };
    }
    await createNetns(path);
    const sandbox = { id: c.Id, key: path };

    // bridge or a user-defined network, plus networks connected with `network connect`.
    const primary =
      resolved.kind === 'bridge' || resolved.kind === 'network' ? resolved.networkName : 'bridge';
    const wanted = { ...networksOf(c) };
    if (Object.keys(wanted).length === 0) wanted[primary] = {};
    const names = Object.keys(wanted).sort((a, b) => (a === primary ? -1 : b === primary ? 1 : 0));
    const endpoints: EndpointInfo[] = [];
    for (const name of names) {
      // The namespace was made just above: the first endpoint needs no look inside it.
      const onlyLoopback = endpoints.length === 0;
      endpoints.push(await this.connectEndpoint(c, name, wanted[name] ?? {}, path, onlyLoopback));
    }
    const first = endpoints[0];
    if (first) {
      const bindings = portBindingRequests(c.HostConfig.PortBindings ?? {});
      if (c.HostConfig.PublishAllPorts)
        bindings.push(...publishAllMappings(Object.keys(c.Config.ExposedPorts ?? {})));
      if (bindings.length > 0) await this.manager.publishPorts(c.Id, first.ipAddress, bindings);
    }
    const settings = await this.runningSettings(c, wanted, sandbox);
    const userNetwork = first && first.networkName !== 'bridge' && first.dnsServer;
    return {
      namespace: { mode: 'path', path },
      settings,
      resolvConf: buildResolvConf({
        mode: userNetwork ? 'user-network' : 'default-bridge',
        hostResolvConf,
        ...(userNetwork ? { embeddedDnsAddress: first.dnsServer } : {}),
        ...dnsOptions,
      }).content,
      hosts: buildHostsFile({
        hostname,
        domainname: c.Config.Domainname || undefined,
        ipAddress: first?.ipAddress,
        extraHosts,
        hostGatewayIp,
        links: first?.networkName === 'bridge' ? linkHostEntries(c, this.options.containers()) : [],
      }),
    };
  }

  async teardown(c: ContainerRecord): Promise<void> {
    // Before init, the endpoints are repaired by init itself (their namespace is gone by then).
    if (this.initialized) {
      await this.initialized;
      await this.manager.disconnectAll(c.Id);
    }
    const path = this.netnsPath(c.Id);
    // umount2(2) in-process first (no umount(8) process on every stop); removeNetns then finds
    // nothing mounted (or detaches what is left) and deletes the file.
    await unmount(path);
    await removeNetns(path);
  }

  /** `NetworkSettings` to show for a container: live addresses while running, blank otherwise. */
  displaySettings(c: ContainerRecord): Record<string, unknown> {
    if (c.State.Running) return c.NetworkSettings;
    return blankNetworkSettings(networksOf(c));
  }

  /**
   * `docker network connect`: a running container gets the endpoint now; a stopped one when it
   * starts. Returns the container's new NetworkSettings for the engine to record.
   */
  async connect(
    c: ContainerRecord,
    networkRef: string,
    config: EndpointConfig = {},
  ): Promise<Record<string, unknown>> {
    await this.init();
    this.assertConnectable(c);
    const network = await this.manager.inspectNetwork(networkRef);
    if (network.Name === 'host' || network.Name === 'none') {
      throw new EngineError(
        'forbidden',
        `container cannot be disconnected from ${network.Name} network or connected to ${network.Name} network`,
      );
    }
    const wanted = { ...networksOf(c) };
    if (wanted[network.Name]) {
      throw new EngineError(
        'forbidden',
        `endpoint with name ${c.Name.slice(1)} already exists in network ${network.Name}`,
      );
    }
    if (network.Name === 'bridge' && config.Aliases?.length)
      throw invalidParameter(
        'network-scoped alias is supported only for containers in user defined networks',
      );
    wanted[network.Name] = { ...config, NetworkID: network.Id };
    if (!c.State.Running)
      return { ...c.NetworkSettings, Networks: { ...(blankNetworkSettings(wanted).Networks as object) } };
    await this.connectEndpoint(c, network.Name, config, this.netnsPath(c.Id));
    return this.runningSettings(c, wanted, { id: c.Id, key: this.netnsPath(c.Id) });
  }

  /** `docker network disconnect`; returns the container's new NetworkSettings. */
  async disconnect(c: ContainerRecord, networkRef: string): Promise<Record<string, unknown>> {
    await this.init();
    const network = await this.manager.inspectNetwork(networkRef);
    const wanted = { ...networksOf(c) };
    if (!wanted[network.Name]) {
      throw new EngineError('forbidden', `container ${c.Id} is not connected to network ${network.Name}`);
    }
    if (
      network.Name === 'host' ||
      network.Name === 'none' ||
      (c.HostConfig.NetworkMode ?? '').startsWith('container:')
    ) {
      throw new EngineError(
        'forbidden',
        `container cannot be disconnected from ${network.Name} network or connected to ${network.Name} network`,
      );
    }
    delete wanted[network.Name];
    if (!c.State.Running)
      return { ...c.NetworkSettings, Networks: { ...(blankNetworkSettings(wanted).Networks as object) } };
    await this.manager.disconnect(c.Id, network.Id);
    return this.runningSettings(c, wanted, { id: c.Id, key: this.netnsPath(c.Id) });
  }

  private assertConnectable(c: ContainerRecord): void {
    const mode = c.HostConfig.NetworkMode || 'bridge';
    if (mode === 'host' || mode === 'none') {
      throw new EngineError(
        'forbidden',
        `container cannot be disconnected from ${mode} network or connected to ${mode} network`,
      );
    }
    if (mode.startsWith('container:'))
      throw new EngineError(
        'forbidden',
        'container sharing network namespace with another container or host cannot be connected to any other network',
      );
  }

  private async connectEndpoint(
    c: ContainerRecord,
    network: string,
    config: EndpointConfig,
    netnsPath: string,
    onlyLoopback = false,
  ): Promise<EndpointInfo> {
    const mac = config.MacAddress && !isDerivedMac(config) ? config.MacAddress : undefined;
    return this.manager.connect({
      containerId: c.Id,
      containerName: c.Name,
      netnsPath,
      onlyLoopback,
      network,
      ipv4Address: config.IPAMConfig?.IPv4Address || undefined,
      ipv6Address: config.IPAMConfig?.IPv6Address || undefined,
      linkLocalIps: config.IPAMConfig?.LinkLocalIPs ?? undefined,
      aliases: config.Aliases ?? undefined,
      links: config.Links ?? undefined,
      macAddress: mac,
      dnsServers: c.HostConfig.Dns?.length ? c.HostConfig.Dns : undefined,
    });
  }

  /** Docker's inspect shape for a running container; the top-level address fields are the default bridge's. */
  private async runningSettings(
    c: ContainerRecord,
    wanted: Record<string, EndpointConfig>,
    sandbox: { id: string; key: string },
  ): Promise<Record<string, unknown>> {
    const live = await this.manager.containerNetworkSettings(c.Id, Object.keys(c.Config.ExposedPorts ?? {}));
    const settings = blankNetworkSettings(wanted, sandbox);
    const networks = settings.Networks as Record<string, Record<string, unknown>>;
    for (const [name, endpoint] of Object.entries(live.Networks)) {
      networks[name] = {
        ...endpoint,
        IPAMConfig: wanted[name]?.IPAMConfig ?? null,
        Aliases: wanted[name]?.Aliases?.length ? wanted[name]?.Aliases : endpoint.Aliases,
        DriverOpts: wanted[name]?.DriverOpts ?? null,
      };
    }
    const bridge = live.Networks.bridge;
    return {
      ...settings,
      Ports: live.Ports,
      ...(bridge
        ? {
            EndpointID: bridge.EndpointID,
            Gateway: bridge.Gateway,
            IPAddress: bridge.IPAddress,
            IPPrefixLen: bridge.IPPrefixLen,
            MacAddress: bridge.MacAddress,
          }
        : {}),
    };
  }

  private async joinContainer(c: ContainerRecord, ref: string): Promise<ContainerNetworkSetup> {
    const other = namespaceOwner(c, ref, this.options.containers());
    const [resolvConf, hosts] = await Promise.all([
      readFile(other.ResolvConfPath, 'utf8').catch(() => ''),
      readFile(other.HostsPath, 'utf8').catch(() => ''),
    ]);
    const otherMode = other.HostConfig.NetworkMode;
    const namespace =
      otherMode === 'host'
        ? ({ mode: 'host' } as const)
        : otherMode === 'none'
          ? ({ mode: 'path', path: `/proc/${other.State.Pid}/ns/net` } as const)
          : ({ mode: 'path', path: this.netnsPath(other.Id) } as const);
    return {
      namespace,
      settings: blankNetworkSettings(),
      resolvConf,
      hosts,
      hostname: other.Config.Hostname || other.Id.slice(0, 12),
      domainname: other.Config.Domainname ?? '',
    };
  }
}
