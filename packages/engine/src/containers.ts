import { EventEmitter } from 'node:events';
import { chown, lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ContainerCreateRequest, ContainerSummary, HostConfig, WaitCondition } from '@ts-container/api';
import { type Logger, humanDuration } from '@ts-container/common';
import type { ImageRunConfig } from '@ts-container/image';
import { buildHostsFile } from '@ts-container/network';
import {
  type ContainerRuntime,
  type ContainerSpecInput,
  ContainerStartError,
  type LogRecord,
  type Resources,
  findExecutable,
  hostDevice,
} from '@ts-container/runtime';
import {
  type IdMappings,
  type MountOptions,
  type Snapshotter,
  UserNamespaceHandle,
  mountAll,
  unmount,
} from '@ts-container/unionfs';
import { resolveInRoot } from './build-fs.js';
import { type ContainerRecord, type ContainerStore, emptyState } from './container-store.js';
import { EngineError, conflict, invalidParameter, notFound } from './errors.js';
import { healthCommand } from './health.js';
import type { ImageService } from './images.js';
import { checkLinuxOptions, containerCgroupPath, linuxSpecOptions, utsHostname } from './linux-options.js';
import { logLimits, monitorLogSizeMax, rotatedLogPaths } from './log-rotation.js';
import { LogShipper, monitorLogPath } from './log-shipper.js';
import { followLog } from './logs.js';
import { copyUpIntoVolume, ensureBindSource, resolveMountPoints } from './mount-points.js';
import { VALID_CONTAINER_NAME, newId, randomContainerName } from './names.js';
import type { ContainerNetworking, NetworkNamespace } from './networking.js';
import { resolveUser } from './user.js';
import type { VolumeService } from './volumes.js';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEFAULT_STOP_TIMEOUT = 10;
/** Docker's default logging driver; `local` and `none` are accepted and logged as json-file. */
const DEFAULT_LOG_DRIVER = 'json-file';
const LOG_DRIVERS = ['json-file', 'local', 'none'];
/** How long `kill` waits for a SIGKILLed container to exit (Docker: 10 s). */
const KILL_EXIT_TIMEOUT_MS = 10_000;
/** Where `--init` puts the init binary, as Docker does. */
const INIT_PATH = '/sbin/docker-init';

export interface ContainerServiceOptions {
  store: ContainerStore;
  images: ImageService;
  snapshotter: Snapshotter;
  runtime: ContainerRuntime;
  /** Prefix of every container's cgroup, e.g. `/tsctr`. */
  cgroupParent: string;
  networking: ContainerNetworking;
  logger: Logger;
  /** Named and anonymous volumes (`-v name:/path`, `-v /path`, VOLUME). */
  volumes: VolumeService;
  /** `--userns-remap`: new containers run in a user namespace with these mappings. */
  usernsRemap?: IdMappings;
}

export interface AttachOptions {
  stdout: boolean;
  stderr: boolean;
  /** Include what the container already wrote. */
  logs: boolean;
  /** Follow new output until the container stops. */
  stream: boolean;
  signal?: AbortSignal;
}

export interface LogsOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  /** Number of lines from the end, or 'all'. */
  tail: number | 'all';
  since?: number;
  until?: number;
  signal?: AbortSignal;
}

/** Container lifecycle: create, start, watch, stop, remove; state on disk in the store. */
export class ContainerService {
  readonly events = new EventEmitter();
  /** Copies what conmon writes into each container's json-file log. */
  readonly logShipper: LogShipper;
  private readonly store: ContainerStore;
  private readonly images: ImageService;
  private readonly snapshotter: Snapshotter;
  private readonly runtime: ContainerRuntime;
  private readonly options: ContainerServiceOptions;
  /** Resolves when the current run of a container has ended (and its state is saved). */
  private readonly exits = new Map<string, Promise<void>>();
  /** Starts by restart policy under way: `stop` waits for one, then stops what it started. */
  private readonly policyStarts = new Map<string, Promise<void>>();
  /** Pending restarts by restart policy, and the back-off delay each is at. */
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly restartDelays = new Map<string, number>();

  constructor(options: ContainerServiceOptions) {
    this.options = options;
    this.store = options.store;
    this.images = options.images;
    this.snapshotter = options.snapshotter;
    this.runtime = options.runtime;
    this.logShipper = new LogShipper(options.logger, (id) => this.runtime.reopenLog(id));
    this.events.setMaxListeners(0);
  }

  get(ref: string): ContainerRecord {
    return this.store.get(ref);
  }

  all(): ContainerRecord[] {
    return this.store.all();
  }

  /** IDs of containers created from image `imageId`. */
  usingImage(imageId: string): string[] {
    return this.store
      .all()
      .filter((c) => c.Image === imageId)
      .map((c) => c.Id);
  }

  async create(request: ContainerCreateRequest, name?: string): Promise<{ Id: string; Warnings: string[] }> {
    if (request.Image === undefined || request.Image === '')
      throw invalidParameter('config cannot be empty in order to create a container');
    let fullName: string;
    if (name !== undefined && name !== '') {
      if (!VALID_CONTAINER_NAME.test(name))
        throw invalidParameter(
          `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
        );
      fullName = name.startsWith('/') ? name : `/${name}`;
      const taken = this.store.nameInUse(fullName);
      if (taken) {
        throw conflict(
          `Conflict. The container name "${fullName}" is already in use by container "${taken.Id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
    } else {
      do fullName = `/${randomContainerName()}`;
      while (this.store.nameInUse(fullName));
    }
    const image = await this.images.get(request.Image);
    await this.images.markUsed(image.record.id);
    const config = mergeConfig(request, image.config.config ?? {});
    const entrypoint = config.Entrypoint as string[] | null | undefined;
    const cmd = config.Cmd as string[] | null | undefined;
    const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
    if (argv.length === 0) throw invalidParameter('no command specified');
    if (
      request.HostConfig?.AutoRemove &&
      request.HostConfig.RestartPolicy &&
      !['', 'no'].includes(request.HostConfig.RestartPolicy.Name)
    ) {
      throw invalidParameter("can't create 'AutoRemove' container with restart policy");
    }
    const linux = await checkLinuxOptions(request, request.HostConfig ?? {}, this.snapshotter.driver.name);
    const hostConfig = linux.hostConfig;
    // Before anything is made on disk: an unknown network fails `create`, as in Docker.
    const networkSettings =
      (await this.options.networking.prepare?.({ ...request, HostConfig: hostConfig })) ?? {};
    const idMappings = this.idMappingsFor(hostConfig);
    // Checked before volumes are made for it: a refused create leaves nothing behind.
    logLimits({ HostConfig: hostConfig }); // bad --log-opt values fail `create`, as in Docker
    const logConfig = {
      Type: hostConfig.LogConfig?.Type || DEFAULT_LOG_DRIVER,
      Config: hostConfig.LogConfig?.Config ?? {},
    };
    if (!LOG_DRIVERS.includes(logConfig.Type))
      throw invalidParameter(`logger: no log driver named '${logConfig.Type}' is registered`);
    // So does an unknown --runtime. docker-py sends `runtime=` beside HostConfig, not in it.
    const topLevelRuntime = (request as { Runtime?: unknown }).Runtime;
    const runtimeName = this.runtime.runtimeNamed(
      hostConfig.Runtime || (typeof topLevelRuntime === 'string' ? topLevelRuntime : undefined),
    ).info.name;
    const mountPoints = await resolveMountPoints(config, hostConfig, this.options.volumes, (ref) =>
      this.store.get(ref),
    );
    const id = newId();
    config.Hostname = utsHostname(hostConfig) ?? (config.Hostname || id.slice(0, 12));
    config.Image = request.Image;
    const dir = this.store.dir(id);
    await mkdir(dir, { recursive: true });
    await this.images.ensureLayers(image.config.rootfs.diff_ids);
    await this.snapshotter.prepare(id, this.images.topLayer(image.config), { 'tsctr.container': id });
    const record: ContainerRecord = {
      Id: id,
      Name: fullName,
      Created: new Date().toISOString(),
      Path: argv[0]!,
      Args: argv.slice(1),
      Config: config,
      HostConfig: {
        ...hostConfig,
        LogConfig: logConfig,
        // The runtime it was created with (Docker records the daemon's default at create).
        Runtime: runtimeName,
        NetworkMode:
          !hostConfig.NetworkMode || hostConfig.NetworkMode === 'default' ? 'bridge' : hostConfig.NetworkMode,
      },
      Image: image.record.id,
      State: emptyState(),
      RestartCount: 0,
      StoppedByUser: false,
      Driver: this.snapshotter.driver.name,
      LogPath: join(dir, `${id}-json.log`),
      HostnamePath: join(dir, 'hostname'),
      HostsPath: join(dir, 'hosts'),
      ResolvConfPath: join(dir, 'resolv.conf'),
      NetworkSettings: networkSettings,
      MountPoints: mountPoints,
      ...(idMappings ? { IdMappings: idMappings } : {}),
    };
    await this.store.save(record);
    this.emit('create', record);
    return { Id: id, Warnings: linux.warnings };
  }

  /**
   * `docker update`: new cgroup limits (applied at once to a running container, through the OCI
   * runtime) and a new restart policy; kept in the container's record for later starts.
   */
  async update(ref: string, changes: Partial<HostConfig>): Promise<{ Warnings: string[] }> {
    const c = this.store.get(ref);
    const next = { ...c.HostConfig };
    for (const key of UPDATABLE_HOST_CONFIG) {
      if (changes[key] !== undefined && changes[key] !== null)
        (next as Record<string, unknown>)[key] = changes[key];
    }
    if (next.Memory && next.MemorySwap && next.MemorySwap > 0 && next.MemorySwap < next.Memory)
      throw invalidParameter('Minimum memoryswap limit should be larger than memory limit, see usage');
    if (changes.RestartPolicy?.Name && changes.RestartPolicy.Name !== 'no' && c.HostConfig.AutoRemove)
      throw invalidParameter(
        'Restart policy cannot be updated because AutoRemove is enabled for the container',
      );
    if (c.State.Running) {
      try {
        await this.runtime.update(c.Id, resourcesOf(next));
      } catch (err) {
        throw new EngineError('system', `Cannot update container ${c.Id}: ${(err as Error).message}`);
      }
    }
    await this.store.update(c.Id, (r) => {
      r.HostConfig = next;
    });
    this.emit('update', c);
    return { Warnings: [] };
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.store.get(ref);
    if (!VALID_CONTAINER_NAME.test(newName))
      throw invalidParameter(
        `Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    const fullName = newName.startsWith('/') ? newName : `/${newName}`;
    if (fullName === c.Name)
      throw invalidParameter('Renaming a container with the same name as its current name');
    const taken = this.store.nameInUse(fullName);
    if (taken)
      throw conflict(
        `Conflict. The container name "${fullName}" is already in use by container "${taken.Id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    const record = await this.store.update(c.Id, (r) => {
      r.Name = fullName;
    });
    this.emit('rename', record);
  }

  /** The container's cgroup, relative to each cgroup v1 hierarchy's root. */
  cgroupPath(id: string, parent?: string): string {
    return containerCgroupPath(id, this.options.cgroupParent, parent);
  }

  /**
   * The user namespace a new container gets: the daemon's `--userns-remap` mappings unless it
   * asks for `--userns=host`; what cannot share a namespace with the host is refused as dockerd
   * refuses it.
   */
  private idMappingsFor(hc: NonNullable<ContainerCreateRequest['HostConfig']>): IdMappings | undefined {
    const mode = hc.UsernsMode ?? '';
    if (mode !== '' && mode !== 'host') throw invalidParameter(`invalid userns mode: ${mode}`);
    const remap = this.options.usernsRemap;
    if (!remap || mode === 'host') return undefined;
    if (hc.Privileged)
      throw invalidParameter(
        'privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode',
      );
    if (hc.NetworkMode === 'host')
      throw invalidParameter("cannot share the host's network namespace when user namespaces are enabled");
    if (hc.PidMode === 'host')
      throw invalidParameter('cannot share the host PID namespace when user namespaces are enabled');
    return remap;
  }

  private readonly userNamespaces = new Map<string, Promise<UserNamespaceHandle>>();

  /** How container `c`'s filesystem is mounted: through its user namespace when it has one. */
  async mountOptions(c: ContainerRecord): Promise<MountOptions> {
    if (!c.IdMappings) return {};
    const key = JSON.stringify(c.IdMappings);
    let handle = this.userNamespaces.get(key);
    if (!handle) {
      handle = UserNamespaceHandle.create(c.IdMappings);
      this.userNamespaces.set(key, handle);
      // A failed attempt is not kept: the next start tries again.
      handle.catch(() => this.userNamespaces.delete(key));
    }
    return { idmap: await handle };
  }

  /** Gives `path` to the container's mapped root when the daemon made it (owned by host root). */
  private async ownByMappedRoot(c: ContainerRecord, path: string): Promise<void> {
    if (!c.IdMappings) return;
    const { idmap } = await this.mountOptions(c);
    const st = await lstat(path);
    if (idmap && st.uid === 0 && st.gid === 0) await chown(path, idmap.rootOwner.uid, idmap.rootOwner.gid);
  }

  rootfsDir(id: string): string {
    return join(this.store.dir(id), 'rootfs');
  }

  /** Starts a container; `byPolicy` marks a start by its restart policy (counted in RestartCount). */
  async start(ref: string, options: { byPolicy?: boolean } = {}): Promise<void> {
    const c = this.store.get(ref);
    if (c.State.Running) throw new EngineError('not-modified', 'container already started');
    if (!options.byPolicy) this.cancelRestart(c.Id);
    if (c.State.Status === 'removing')
      throw conflict(`cannot start container ${c.Id}: container is marked for removal`);
    const rootfs = this.rootfsDir(c.Id);
    await mkdir(rootfs, { recursive: true });
    await unmount(rootfs);
    const mounts = await this.snapshotter.mounts(c.Id);
    try {
      // Side by side (each waits on its own processes); both settled before any cleanup below.
      const [network, mounted] = await Promise.allSettled([
        this.options.networking.setup(c),
        this.mountOptions(c).then((options) => mountAll(mounts, rootfs, options)),
      ]);
      if (mounted.status === 'rejected') throw mounted.reason;
      if (network.status === 'rejected') throw network.reason;
      const withNetwork = await this.store.update(c.Id, (r) => {
        r.NetworkSettings = network.value.settings;
        // container:NAME takes that container's names, as Docker does (see ContainerNetworkSetup).
        if (network.value.hostname !== undefined) r.Config.Hostname = network.value.hostname;
        if (network.value.domainname !== undefined) r.Config.Domainname = network.value.domainname;
      });
      await this.writeEtcFiles(withNetwork, network.value.resolvConf, network.value.hosts);
      const spec = await this.specFor(withNetwork, rootfs, network.value.namespace);
      // A new run, a new spool; the json-file log goes on across runs, as Docker's does.
      await this.logShipper.reset(c);
      const created = await this.runtime.create(c.Id, spec, {
        name: c.Name.slice(1),
        logPath: monitorLogPath(c),
        stdin: c.Config.OpenStdin ?? false,
        logSizeMax: monitorLogSizeMax(logLimits(c)),
        ...(c.HostConfig.Runtime ? { runtime: c.HostConfig.Runtime } : {}),
      });
      await this.runtime.start(c.Id);
      const record = await this.store.update(c.Id, (r) => {
        r.State = {
          ...r.State,
          Status: 'running',
          Running: true,
          Paused: false,
          Restarting: false,
          OOMKilled: false,
          Dead: false,
          Pid: created.pid,
          MonitorPid: created.monitorPid,
          ExitCode: 0,
          Error: '',
          StartedAt: new Date().toISOString(),
          FinishedAt: '0001-01-01T00:00:00Z',
        };
        // Inspect right after start shows the check `starting`, as Docker does, before any probe.
        if (healthCommand(r.Config.Healthcheck as Parameters<typeof healthCommand>[0]))
          r.State.Health = { Status: 'starting', FailingStreak: 0, Log: [] };
        r.StoppedByUser = false;
        r.RestartCount = options.byPolicy ? r.RestartCount + 1 : 0;
      });
      this.watchExit(c.Id);
      this.emit('start', record);
    } catch (err) {
      await this.runtime
        .delete(c.Id)
        .catch((e: unknown) => this.options.logger.warn(`cleanup of ${c.Id}: ${String(e)}`));
      await this.options.networking
        .teardown(this.store.get(c.Id))
        .catch((e: unknown) => this.options.logger.warn(`network teardown of ${c.Id}: ${String(e)}`));
      await unmount(rootfs);
      const exitCode = err instanceof ContainerStartError ? err.exitCode : 128;
      const record = await this.store.update(c.Id, (r) => {
        r.State = {
          ...r.State,
          Status: r.State.Status === 'created' ? 'created' : 'exited',
          ExitCode: exitCode,
          Error: (err as Error).message,
        };
      });
      // Attached clients and waiters learn that this run is over; Docker removes an
      // auto-remove container whose start failed.
      this.emit('die', record);
      if (record.HostConfig.AutoRemove)
        await this.remove(c.Id, { force: true, removeVolumes: true }).catch((e: unknown) =>
          this.options.logger.error(`auto-remove ${c.Id}: ${String(e)}`),
        );
      if (err instanceof ContainerStartError && exitCode !== 125)
        throw new EngineError('invalid-parameter', err.message, { cause: err });
      throw err;
    }
  }

  private async specFor(
    c: ContainerRecord,
    rootfs: string,
    network: NetworkNamespace,
  ): Promise<ContainerSpecInput> {
    const hc = c.HostConfig;
    const { blockIO, ...linux } = await linuxSpecOptions(hc);
    const user = await resolveUser(rootfs, c.Config.User, hc.GroupAdd ?? []);
    const cwd = c.Config.WorkingDir || '/';
    if (cwd !== '/') {
      // Resolved inside the rootfs: an image's WORKDIR through a symlink must not make host dirs.
      const full = await resolveInRoot(rootfs, cwd);
      const made = await mkdir(full, { recursive: true });
      // Every directory made for the WORKDIR is the container root's, not just the first.
      if (made !== undefined) {
        for (let dir = full; dir.length >= made.length; dir = dirname(dir))
          await this.ownByMappedRoot(c, dir);
      }
    }
    for (const file of [c.HostnamePath, c.HostsPath, c.ResolvConfPath]) await this.ownByMappedRoot(c, file);
    const mounts: NonNullable<ContainerSpecInput['mounts']> = [
      { destination: '/etc/hostname', source: c.HostnamePath, type: 'bind', options: ['rbind', 'rprivate'] },
      { destination: '/etc/hosts', source: c.HostsPath, type: 'bind', options: ['rbind', 'rprivate'] },
      {
        destination: '/etc/resolv.conf',
        source: c.ResolvConfPath,
        type: 'bind',
        options: ['rbind', 'rprivate'],
      },
    ];
    // Containers created before mount points were recorded kept only their Binds.
    const points =
      c.MountPoints.length > 0 || !hc.Binds?.length
        ? c.MountPoints
        : await resolveMountPoints({}, { Binds: hc.Binds }, this.options.volumes, (ref) =>
            this.store.get(ref),
          );
    for (const p of points) {
      if (p.Type === 'tmpfs') {
        mounts.push({
          destination: p.Destination,
          source: 'tmpfs',
          type: 'tmpfs',
          options: ['nosuid', 'nodev', 'noexec', ...(p.RW ? [] : ['ro']), ...p.Options],
        });
        continue;
      }
      let source = p.Source;
      if (p.Type === 'volume' && p.Name) {
        source = await this.options.volumes.mountpoint(p.Name);
        await copyUpIntoVolume(rootfs, p, source);
        // An empty new volume belongs to the mapped root, as under dockerd's remapped root.
        if ((await readdir(source)).length === 0) await this.ownByMappedRoot(c, source);
      } else if (p.Type === 'bind') {
        await ensureBindSource(source);
      }
      mounts.push({
        destination: p.Destination,
        source,
        type: 'bind',
        options: ['rbind', p.RW ? 'rw' : 'ro', ...(p.Propagation ? [p.Propagation] : [])],
      });
    }
    let args = [c.Path, ...c.Args];
    if (hc.Init) {
      // `--init`: a static init (Docker ships tini as docker-init) runs as PID 1, forwards
      // signals and reaps zombies; it is bind-mounted, so the image needs nothing.
      const init = (await findExecutable('tini-static')) ?? (await findExecutable('catatonit'));
      if (!init) throw invalidParameter('--init needs tini-static or catatonit: apt-get install tini');
      mounts.push({
        destination: INIT_PATH,
        source: init,
        type: 'bind',
        options: ['rbind', 'ro', 'rprivate'],
      });
      args = [INIT_PATH, '--', ...args];
    }
    return {
      rootfs,
      readonlyRootfs: hc.ReadonlyRootfs ?? false,
      args,
      // Docker's legacy link variables come first: the container's own Env wins over them.
      env: [...this.linkEnv(c), ...(c.Config.Env ?? [])],
      cwd,
      user,
      terminal: c.Config.Tty ?? false,
      hostname: c.Config.Hostname ?? c.Id.slice(0, 12),
      ...(c.Config.Domainname ? { domainname: c.Config.Domainname } : {}),
      network,
      mounts,
      resources: { ...resourcesOf(hc), ...(blockIO ? { blockIO } : {}) },
      ...linux,
      devices: await Promise.all(
        (hc.Devices ?? []).map((d) =>
          hostDevice(d.PathOnHost, d.PathInContainer || d.PathOnHost, d.CgroupPermissions || 'rwm'),
        ),
      ),
      privileged: hc.Privileged ?? false,
      capAdd: hc.CapAdd ?? [],
      capDrop: hc.CapDrop ?? [],
      noNewPrivileges: (hc.SecurityOpt ?? []).some((o) => /^no-new-privileges(=true|:true)?$/.test(o)),
      seccomp: (hc.SecurityOpt ?? []).includes('seccomp=unconfined') ? 'unconfined' : 'default',
      rlimits: (hc.Ulimits ?? []).map((u) => ({ type: u.Name, soft: u.Soft, hard: u.Hard })),
      sysctls: hc.Sysctls ?? {},
      cgroupsPath: this.cgroupPath(c.Id, hc.CgroupParent),
      ...(hc.ShmSize ? { shmSize: hc.ShmSize } : {}),
      ...(c.IdMappings ? { userNamespace: c.IdMappings } : {}),
    };
  }

  /**
   * `--link name:alias` environment, as Docker sets it: ALIAS_NAME, ALIAS_PORT…, and the linked
   * container's own Env as ALIAS_ENV_… (HOME and PATH left out). Links that cannot resolve are
   * the networking's to refuse; they add nothing here.
   */
  private linkEnv(c: ContainerRecord): string[] {
    const env: string[] = [];
    for (const link of c.HostConfig.Links ?? []) {
      const [ref = '', aliasPart] = link.split(':');
      const target = this.store.find(ref);
      if (!target) continue;
      const aliasName = (aliasPart ?? target.Name).split('/').pop() ?? '';
      const prefix = aliasName.toUpperCase().replace(/-/g, '_');
      env.push(`${prefix}_NAME=${c.Name}/${aliasName}`);
      const networks = (target.NetworkSettings.Networks ?? {}) as Record<string, { IPAddress?: string }>;
      const ip = networks.bridge?.IPAddress ?? '';
      const ports = Object.keys((target.Config.ExposedPorts ?? {}) as Record<string, unknown>)
        .map((key) => {
          const [port = '', proto = 'tcp'] = key.split('/');
          return { port: Number(port), proto };
        })
        .filter((p) => Number.isInteger(p.port))
        .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
      if (ip && ports[0]) env.push(`${prefix}_PORT=${ports[0].proto}://${ip}:${ports[0].port}`);
      for (const { port, proto } of ip ? ports : []) {
        const key = `${prefix}_PORT_${port}_${proto.toUpperCase()}`;
        env.push(
          `${key}=${proto}://${ip}:${port}`,
          `${key}_ADDR=${ip}`,
          `${key}_PORT=${port}`,
          `${key}_PROTO=${proto}`,
        );
      }
      for (const e of target.Config.Env ?? []) {
        const i = e.indexOf('=');
        if (i <= 0) continue;
        const key = e.slice(0, i);
        if (key === 'HOME' || key === 'PATH') continue;
        env.push(`${prefix}_ENV_${key}=${e.slice(i + 1)}`);
      }
    }
    return env;
  }

  /**
   * `DELETE /containers/PARENT/ALIAS?link=1` (`docker rm --link`): PARENT no longer links to
   * ALIAS; both containers stay.
   */
  async removeLink(name: string): Promise<void> {
    const full = name.startsWith('/') ? name : `/${name}`;
    const slash = full.lastIndexOf('/');
    if (slash === 0) throw conflict('Conflict, cannot remove the default link name of the container');
    const parentName = full.slice(0, slash);
    const alias = full.slice(slash + 1);
    const parent = this.store.find(parentName);
    if (!parent) throw notFound(`Cannot get parent ${parentName} for link name ${full}`);
    const aliasOf = (link: string) => {
      const [ref = '', aliasPart] = link.split(':');
      return (aliasPart ?? ref).split('/').pop();
    };
    const links = parent.HostConfig.Links ?? [];
    if (!links.some((l) => aliasOf(l) === alias)) throw notFound(`No such container: ${name}`);
    await this.store.update(parent.Id, (r) => {
      r.HostConfig.Links = links.filter((l) => aliasOf(l) !== alias);
    });
  }

  private async writeEtcFiles(c: ContainerRecord, resolvConf?: string, hostsFile?: string): Promise<void> {
    const hostname = c.Config.Hostname ?? c.Id.slice(0, 12);
    await writeFile(c.HostnamePath, `${hostname}\n`);
    if (hostsFile !== undefined && resolvConf !== undefined) {
      await writeFile(c.HostsPath, hostsFile);
      await writeFile(c.ResolvConfPath, resolvConf);
      return;
    }
    await writeFile(c.HostsPath, buildHostsFile({ hostname, extraHosts: c.HostConfig.ExtraHosts ?? [] }));
    const dns = c.HostConfig.Dns ?? [];
    const lines = dns.map((d) => `nameserver ${d}`);
    if (c.HostConfig.DnsSearch?.length) lines.push(`search ${c.HostConfig.DnsSearch.join(' ')}`);
    if (c.HostConfig.DnsOptions?.length) lines.push(`options ${c.HostConfig.DnsOptions.join(' ')}`);
    await writeFile(c.ResolvConfPath, lines.length ? `${lines.join('\n')}\n` : '');
  }

  /** Waits for the container's process to end, in the background, then records the exit. */
  private watchExit(id: string): void {
    this.logShipper.follow(this.store.get(id));
    const done = this.runtime
      .wait(id)
      .then((status) => this.handleExit(id, status.exitCode, status.oomKilled))
      .catch((err: unknown) => this.options.logger.error(`container ${id}: ${String(err)}`));
    this.exits.set(id, done);
  }

  private async handleExit(id: string, exitCode: number, oomKilled: boolean): Promise<void> {
    // Independent of each other once the process is gone: side by side, as `run --rm` waits on them.
    await Promise.all([
      this.runtime
        .delete(id)
        .catch((e: unknown) => this.options.logger.warn(`runtime delete ${id}: ${String(e)}`)),
      this.options.networking
        .teardown(this.store.get(id))
        .catch((e: unknown) => this.options.logger.warn(`network teardown of ${id}: ${String(e)}`)),
      unmount(this.rootfsDir(id)),
      // Its last words are in the log before anyone learns that it ended.
      this.logShipper.finish(this.store.get(id)),
    ]);
    const record = await this.store.update(id, (r) => {
      r.State = {
        ...r.State,
        Status: 'exited',
        Running: false,
        Paused: false,
        Restarting: false,
        OOMKilled: oomKilled,
        Pid: 0,
        MonitorPid: 0,
        ExitCode: exitCode,
        FinishedAt: new Date().toISOString(),
      };
      // Restarting from the moment it is seen exited: a remove that follows a wait is refused.
      if (!r.HostConfig.AutoRemove && shouldRestart(r)) {
        r.State.Restarting = true;
        r.State.Status = 'restarting';
      }
    });
    this.exits.delete(id);
    this.emit('die', record);
    if (record.State.Restarting) {
      await this.scheduleRestart(record);
      return;
    }
    if (record.HostConfig.AutoRemove) {
      await this.remove(id, { force: true, removeVolumes: true }).catch((e: unknown) =>
        this.options.logger.error(`auto-remove ${id}: ${String(e)}`),
      );
    }
  }

  /**
   * Docker's restart back-off: 100 ms, doubling on each quick failure up to a minute, back to
   * 100 ms once a run lasted 10 s.
   */
  private async scheduleRestart(record: ContainerRecord): Promise<void> {
    const id = record.Id;
    const ranFor = Date.parse(record.State.FinishedAt) - Date.parse(record.State.StartedAt);
    const previous = this.restartDelays.get(id);
    const delay = previous === undefined || ranFor >= 10_000 ? 100 : Math.min(previous * 2, 60_000);
    this.restartDelays.set(id, delay);
    await this.store.update(id, (r) => {
      r.State.Restarting = true;
      r.State.Status = 'restarting';
    });
    const timer = setTimeout(() => {
      this.restartTimers.delete(id);
      const current = this.store.find(id);
      if (!current || current.State.Running) return;
      if (current.StoppedByUser) {
        // Stopped while this restart was being scheduled: it stays exited.
        void this.store
          .update(id, (r) => {
            r.State.Restarting = false;
            r.State.Status = 'exited';
          })
          .catch((err: unknown) => this.options.logger.error(`container ${id}: ${String(err)}`));
        return;
      }
      const starting = this.start(id, { byPolicy: true })
        .catch(async (err: unknown) => {
          this.options.logger.warn(`restart of ${id}: ${String(err)}`);
          const failed = this.store.find(id);
          if (failed && shouldRestart(failed)) await this.scheduleRestart(failed);
        })
        .catch((err: unknown) => this.options.logger.error(`restart of ${id}: ${String(err)}`))
        .finally(() => this.policyStarts.delete(id));
      this.policyStarts.set(id, starting);
    }, delay);
    this.restartTimers.set(id, timer);
  }

  /** Drops a pending policy restart (user stop, start or removal). */
  private cancelRestart(id: string): boolean {
    const timer = this.restartTimers.get(id);
    this.restartDelays.delete(id);
    if (!timer) return false;
    clearTimeout(timer);
    this.restartTimers.delete(id);
    return true;
  }

  /**
   * After a daemon restart: containers that were running are either still running under
   * their monitor (watch them again) or ended while we were away (record their exit).
   */
  async recover(): Promise<void> {
    for (const c of this.store.all()) {
      if (!c.State.Running) {
        // Ended before a crash cut its last shipping short: what is left goes in now.
        await this.logShipper.finish(c);
        continue;
      }
      const state = await this.runtime.state(c.Id);
      if (state && (state.status === 'running' || state.status === 'paused')) {
        this.watchExit(c.Id);
        continue;
      }
      const status = await this.runtime.exitStatus(c.Id);
      await this.handleExit(c.Id, status?.exitCode ?? 255, status?.oomKilled ?? false);
    }
    // Docker starts `always` containers, and `unless-stopped` ones not stopped by the user,
    // when the daemon starts.
    for (const c of this.store.all()) {
      if (c.State.Running || this.restartTimers.has(c.Id)) continue;
      const policy = c.HostConfig.RestartPolicy?.Name ?? 'no';
      if (policy === 'always' || (policy === 'unless-stopped' && !c.StoppedByUser)) {
        await this.start(c.Id, { byPolicy: true }).catch((e: unknown) =>
          this.options.logger.warn(`restart of ${c.Id} at daemon start: ${String(e)}`),
        );
      }
    }
  }

  async wait(
    ref: string,
    condition: WaitCondition,
    signal?: AbortSignal,
  ): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    const c = this.store.get(ref);
    const id = c.Id;
    if (condition === 'not-running' && !c.State.Running) return { StatusCode: c.State.ExitCode, Error: null };
    const event = condition === 'removed' ? 'destroy' : 'die';
    return new Promise((resolve, reject) => {
      const onEvent = (record: ContainerRecord) => {
        if (record.Id !== id) return;
        cleanup();
        resolve({ StatusCode: record.State.ExitCode, Error: null });
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const cleanup = () => {
        this.events.off(event, onEvent);
        signal?.removeEventListener('abort', onAbort);
      };
      this.events.on(event, onEvent);
      signal?.addEventListener('abort', onAbort);
    });
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const c = this.store.get(ref);
    if (!c.State.Running) throw conflict(`Cannot kill container: ${ref}: container ${c.Id} is not running`);
    const sig = normaliseSignal(signal);
    const exited = this.exits.get(c.Id);
    await this.runtime.kill(c.Id, sig);
    // Docker answers a SIGKILL once the container has exited (and its state is saved), so an
    // inspect or a remove right after sees it stopped; other signals answer at once. A frozen
    // (paused) process takes the signal only once thawed: no wait for it.
    if ((sig === 'SIGKILL' || sig === '9') && exited && !c.State.Paused) {
      const done = await Promise.race([
        exited.then(() => true),
        sleep(KILL_EXIT_TIMEOUT_MS).then(() => false),
      ]);
      if (!done)
        this.options.logger.warn(`kill ${c.Id}: still running ${KILL_EXIT_TIMEOUT_MS} ms after SIGKILL`);
    }
  }

  async stop(ref: string, options: { timeout?: number; signal?: string } = {}): Promise<void> {
    let c = this.store.get(ref);
    const starting = this.policyStarts.get(c.Id);
    if (starting) {
      // A restart by policy is under way: it is not "stopped" yet; let it finish, then stop it.
      await starting;
      c = this.store.get(ref);
    }
    if (!c.State.Running && this.cancelRestart(c.Id)) {
      await this.store.update(c.Id, (r) => {
        r.StoppedByUser = true;
        r.State.Restarting = false;
        r.State.Status = 'exited';
      });
      return;
    }
    // Also when it is not running (between a run's end and its policy restart being
    // scheduled, say): no restart after a stop.
    await this.store.update(c.Id, (r) => {
      r.StoppedByUser = true;
    });
    if (!c.State.Running) throw new EngineError('not-modified', 'container already stopped');
    const exited = this.exits.get(c.Id) ?? Promise.resolve();
    const timeout = options.timeout ?? c.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
    // `-t 0` gives the stop signal no time to act: straight to SIGKILL (as Podman does), one
    // OCI runtime call fewer. A negative timeout waits as long as it takes (Docker's -1).
    if (timeout !== 0)
      await this.runtime
        .kill(c.Id, normaliseSignal(options.signal ?? c.Config.StopSignal ?? 'SIGTERM'))
        .catch((e: unknown) => this.options.logger.warn(`stop ${c.Id}: ${String(e)}`));
    const graceful =
      timeout < 0
        ? await exited.then(() => true)
        : timeout > 0 &&
          (await Promise.race([exited.then(() => true), sleep(timeout * 1000).then(() => false)]));
    if (!graceful) {
      await this.runtime
        .kill(c.Id, 'SIGKILL', true)
        .catch((e: unknown) => this.options.logger.warn(`kill ${c.Id}: ${String(e)}`));
      await exited;
    }
  }

  async remove(ref: string, options: { force?: boolean; removeVolumes?: boolean } = {}): Promise<void> {
    let c = this.store.get(ref);
    if (c.State.Restarting && !options.force)
      throw conflict(
        `cannot remove container "${c.Name}": container is restarting: stop the container before removing or force remove`,
      );
    this.cancelRestart(c.Id);
    // A restart by policy under way finishes first; what it started is then running.
    const starting = this.policyStarts.get(c.Id);
    if (starting) {
      await starting;
      c = this.store.get(ref);
    }
    if (c.State.Running) {
      if (!options.force) {
        throw conflict(
          `cannot remove container "${c.Name}": container is running: stop the container before removing or force remove`,
        );
      }
      await this.runtime
        .kill(c.Id, 'SIGKILL', true)
        .catch((e: unknown) => this.options.logger.warn(`kill ${c.Id}: ${String(e)}`));
      await this.exits.get(c.Id);
    }
    if (this.store.find(c.Id) === undefined) return; // auto-removed meanwhile
    await this.store.update(c.Id, (r) => {
      r.State.Status = 'removing';
    });
    await this.runtime
      .delete(c.Id)
      .catch((e: unknown) => this.options.logger.warn(`runtime delete ${c.Id}: ${String(e)}`));
    await unmount(this.rootfsDir(c.Id));
    if (this.snapshotter.has(c.Id)) await this.snapshotter.remove(c.Id);
    await this.store.delete(c.Id);
    this.emit('destroy', c);
    // `rm -v` (and `--rm`): the container's anonymous volumes go with it, named ones stay.
    if (options.removeVolumes) {
      for (const p of c.MountPoints) {
        if (p.Type !== 'volume' || !p.Name || !this.options.volumes.has(p.Name)) continue;
        if (!this.options.volumes.record(p.Name).Anonymous) continue;
        const users = this.usingVolume(p.Name);
        if (users.length > 0) continue; // still mounted elsewhere (--volumes-from)
        await this.options.volumes
          .remove(p.Name, [])
          .catch((e: unknown) => this.options.logger.warn(`remove volume ${p.Name}: ${String(e)}`));
      }
    }
  }

  /** IDs of containers that mount volume `name`. */
  usingVolume(name: string): string[] {
    return this.store
      .all()
      .filter((c) => c.MountPoints.some((p) => p.Type === 'volume' && p.Name === name))
      .map((c) => c.Id);
  }

  async *attach(ref: string, options: AttachOptions): AsyncGenerator<LogRecord> {
    const c = this.store.get(ref);
    const wanted = (r: LogRecord) => (r.stream === 'stdout' ? options.stdout : options.stderr);
    // A container not started yet will write its log from the beginning.
    const from = options.logs || c.State.Status === 'created' ? 0 : 'end';
    if (options.logs) await this.logShipper.ship(c);
    if (!options.stream) {
      if (options.logs) for await (const r of followLog(c.LogPath, { from: 0 })) if (wanted(r)) yield r;
      return;
    }
    const until = this.untilStopped(c.Id);
    for await (const r of followLog(c.LogPath, {
      from,
      until,
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      if (wanted(r)) yield r;
    }
  }

  /** Resolves when the container's next (or current) run has ended. */
  private untilStopped(id: string): Promise<void> {
    return new Promise((resolve) => {
      const onDie = (r: ContainerRecord) => {
        if (r.Id === id) {
          this.events.off('die', onDie);
          resolve();
        }
      };
      this.events.on('die', onDie);
    });
  }

  async *logs(ref: string, options: LogsOptions): AsyncGenerator<LogRecord> {
    const c = this.store.get(ref);
    const wanted = (r: LogRecord) =>
      (r.stream === 'stdout' ? options.stdout : options.stderr) && inTimeRange(r, options);
    const existing: LogRecord[] = [];
    await this.logShipper.ship(c);
    // Rotated files first (oldest to newest), then the current one.
    for (const path of [...rotatedLogPaths(c.LogPath, logLimits(c).maxFile), c.LogPath])
      for await (const r of followLog(path, { from: 0 })) if (wanted(r)) existing.push(r);
    const start = options.tail === 'all' ? 0 : Math.max(0, existing.length - options.tail);
    for (const r of existing.slice(start)) yield r;
    if (!options.follow || !this.store.get(c.Id).State.Running) return;
    const { stat } = await import('node:fs/promises');
    const offset = (await stat(c.LogPath).catch(() => ({ size: 0 }))).size;
    for await (const r of followLog(c.LogPath, {
      from: offset,
      until: this.untilStopped(c.Id),
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      if (wanted(r)) yield r;
    }
  }

  summary(c: ContainerRecord, imageName: (id: string) => string): ContainerSummary {
    return {
      Id: c.Id,
      Names: [c.Name],
      Image: c.Config.Image ?? imageName(c.Image),
      ImageID: c.Image,
      Command: dockerCommandLine(c.Path, c.Args),
      Created: Math.floor(Date.parse(c.Created) / 1000),
      Ports: c.State.Running ? summaryPorts(c.NetworkSettings.Ports) : [],
      Labels: (c.Config.Labels ?? {}) as Record<string, string>,
      State: c.State.Status,
      Status: statusText(c),
      HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'bridge' },
      NetworkSettings: { Networks: (c.NetworkSettings.Networks ?? {}) as Record<string, unknown> },
      Mounts: mountsView(c),
    };
  }

  private emit(action: string, record: ContainerRecord): void {
    this.events.emit(action, record);
    this.events.emit('event', { Type: 'container', Action: action, id: record.Id, record });
  }
}

/** Whether a container that just exited is due a restart by its restart policy. */
export function shouldRestart(c: ContainerRecord): boolean {
  if (c.StoppedByUser) return false;
  const policy = c.HostConfig.RestartPolicy;
  switch (policy?.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure': {
      const max = policy.MaximumRetryCount ?? 0;
      return c.State.ExitCode !== 0 && (max <= 0 || c.RestartCount < max);
    }
    default:
      return false;
  }
}

/** Docker's merge of a create request with the image's defaults. */
export function mergeConfig(
  request: ContainerCreateRequest,
  image: ImageRunConfig,
): ContainerRecord['Config'] {
  const {
    HostConfig: _h,
    NetworkingConfig: _n,
    Runtime: _r,
    ...config
  } = request as ContainerCreateRequest & {
    Runtime?: unknown;
  };
  const env = new Map<string, string>();
  for (const e of [...(image.Env ?? [DEFAULT_PATH]), ...(config.Env ?? [])]) env.set(e.split('=')[0]!, e);
  if (![...env.keys()].includes('PATH')) env.set('PATH', DEFAULT_PATH);
  const toArray = (v: string | string[] | null | undefined) => (typeof v === 'string' ? [v] : v);
  const entrypointGiven = config.Entrypoint !== undefined && config.Entrypoint !== null;
  const entrypoint = entrypointGiven ? toArray(config.Entrypoint) : image.Entrypoint;
  let cmd = toArray(config.Cmd);
  // Docker: a new entrypoint on the command line discards the image's CMD.
  if ((cmd === undefined || cmd === null || cmd.length === 0) && !entrypointGiven) cmd = image.Cmd ?? null;
  const merged: ContainerRecord['Config'] = {
    ...config,
    Env: [...env.values()],
    Cmd: cmd && cmd.length > 0 ? cmd : null,
    Entrypoint: entrypoint && entrypoint.length > 0 ? entrypoint : null,
    WorkingDir: config.WorkingDir || image.WorkingDir || '',
    User: config.User || image.User || '',
    Labels: { ...(image.Labels ?? {}), ...(config.Labels ?? {}) },
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(config.ExposedPorts ?? {}) },
    Volumes: { ...(image.Volumes ?? {}), ...(config.Volumes ?? {}) },
  };
  const stopSignal = config.StopSignal ?? image.StopSignal;
  if (stopSignal !== undefined) merged.StopSignal = stopSignal;
  if (config.Healthcheck === undefined && image.Healthcheck !== undefined)
    merged.Healthcheck = image.Healthcheck;
  return merged;
}

/** `docker ps` PORTS: published bindings, and exposed ports without a binding (PrivatePort only). */
function summaryPorts(ports: unknown): ContainerSummary['Ports'] {
  const out: ContainerSummary['Ports'] = [];
  for (const [key, bindings] of Object.entries((ports ?? {}) as Record<string, unknown>)) {
    const [port = '0', type = 'tcp'] = key.split('/');
    const list = Array.isArray(bindings) ? (bindings as { HostIp: string; HostPort: string }[]) : [];
    if (list.length === 0) out.push({ PrivatePort: Number(port), Type: type });
    for (const b of list)
      out.push({
        IP: b.HostIp || '0.0.0.0',
        PrivatePort: Number(port),
        PublicPort: Number(b.HostPort),
        Type: type,
      });
  }
  return out;
}

function inTimeRange(r: LogRecord, o: LogsOptions): boolean {
  if (o.since === undefined && o.until === undefined) return true;
  const t = Date.parse(r.time) / 1000;
  return (o.since === undefined || t >= o.since) && (o.until === undefined || t <= o.until);
}

/** What `docker update` may change (Docker refuses nothing else silently: other fields are ignored). */
const UPDATABLE_HOST_CONFIG = [
  'Memory',
  'MemorySwap',
  'MemoryReservation',
  'CpuShares',
  'NanoCpus',
  'CpuQuota',
  'CpuPeriod',
  'CpusetCpus',
  'CpusetMems',
  'PidsLimit',
  'BlkioWeight',
  'RestartPolicy',
] as const;

/** The cgroup limits a container's host config asks for. */
function resourcesOf(hc: HostConfig): Resources {
  return {
    ...(hc.Memory ? { memory: hc.Memory } : {}),
    ...(hc.MemorySwap ? { memorySwap: hc.MemorySwap } : {}),
    ...(hc.CpuShares ? { cpuShares: hc.CpuShares } : {}),
    ...(hc.NanoCpus ? { cpuQuota: Math.round((hc.NanoCpus / 1e9) * 100_000), cpuPeriod: 100_000 } : {}),
    ...(hc.CpuQuota ? { cpuQuota: hc.CpuQuota } : {}),
    ...(hc.CpuPeriod ? { cpuPeriod: hc.CpuPeriod } : {}),
    ...(hc.CpusetCpus ? { cpusetCpus: hc.CpusetCpus } : {}),
    ...(hc.CpusetMems ? { cpusetMems: hc.CpusetMems } : {}),
    ...(hc.PidsLimit ? { pidsLimit: hc.PidsLimit } : {}),
    ...(hc.MemoryReservation ? { memoryReservation: hc.MemoryReservation } : {}),
    ...(typeof hc.MemorySwappiness === 'number' && hc.MemorySwappiness >= 0
      ? { memorySwappiness: hc.MemorySwappiness }
      : {}),
    ...(hc.OomKillDisable ? { disableOOMKiller: true } : {}),
    ...(hc.CpuRealtimePeriod ? { cpuRealtimePeriod: hc.CpuRealtimePeriod } : {}),
    ...(hc.CpuRealtimeRuntime ? { cpuRealtimeRuntime: hc.CpuRealtimeRuntime } : {}),
  };
}

/** A container's mounts as `inspect` and `ps` show them (Docker's MountPoint). */
export function mountsView(c: ContainerRecord): Record<string, unknown>[] {
  return c.MountPoints.map((p) => ({
    Type: p.Type,
    ...(p.Name ? { Name: p.Name } : {}),
    Source: p.Source,
    Destination: p.Destination,
    ...(p.Type === 'volume' ? { Driver: 'local' } : {}),
    Mode: p.Mode,
    RW: p.RW,
    Propagation: p.Propagation,
  }));
}

/** The `Command` of a container list entry, built as Docker's daemon does: arguments with a space in single quotes. */
export function dockerCommandLine(path: string, args: readonly string[]): string {
  return [path, ...args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
}

export function normaliseSignal(signal: string): string {
  if (/^\d+$/.test(signal)) return signal;
  const upper = signal.toUpperCase();
  return upper.startsWith('SIG') ? upper : `SIG${upper}`;
}

/** `Up 5 minutes`, `Exited (0) 2 hours ago`, `Created`, like `docker ps`. */
export function statusText(c: ContainerRecord, now = Date.now()): string {
  switch (c.State.Status) {
    case 'running': {
      const health = c.State.Health?.Status;
      const suffix =
        health === undefined ? '' : health === 'starting' ? ' (health: starting)' : ` (${health})`;
      return `Up ${humanDuration(now - Date.parse(c.State.StartedAt))}${suffix}`;
    }
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(c.State.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${c.State.ExitCode}) ${humanDuration(now - Date.parse(c.State.FinishedAt))} ago`;
    case 'exited':
      return `Exited (${c.State.ExitCode}) ${humanDuration(now - Date.parse(c.State.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
