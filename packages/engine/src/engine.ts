import { mkdir, readFile, rm } from 'node:fs/promises';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { type Logger, silentLogger } from '@ts-container/common';
import { ContentStore, ImageStore } from '@ts-container/image';
import { ContainerRuntime } from '@ts-container/runtime';
import { type IdMappings, Snapshotter, idmappedMountsUnavailable } from '@ts-container/unionfs';
import { containerSize, repairTemporaryMounts } from './changes.js';
import { type CommitOptions, commitContainer } from './commit.js';
import { ContainerStore } from './container-store.js';
import { ContainerService } from './containers.js';
import { type EngineServices, createEngineServices } from './engine-services.js';
import { invalidParameter } from './errors.js';
import { ExecService } from './exec.js';
import { type GarbageCollectionResult, collectGarbage } from './gc.js';
import { HealthMonitor } from './health.js';
import { type ImageDeleteEntry, ImageService, type RemoveImageOptions } from './images.js';
import { type ContainerNetworking, isolatedNetworking } from './networking.js';
import { repairAtStart } from './recovery.js';
import { RegistryService, type RegistrySettings } from './registry.js';
import { StatsService, cgroupVersion } from './stats.js';
import { StdinBroker } from './stdin-broker.js';
import { SwarmService } from './swarm.js';
import { allowRemappedRootTraversal } from './userns-remap.js';
import { ENGINE_VERSION } from './version.js';
import { VolumeService } from './volumes.js';

export { ENGINE_VERSION } from './version.js';

export interface EngineOptions {
  /** Persistent state: images, layers, containers (like /var/lib/docker). */
  dataRoot: string;
  /** Runtime state that a reboot may clear: bundles, monitor files (like /run/docker). */
  execRoot: string;
  storageDriver?: 'overlay' | 'copy' | 'auto';
  runtime?: string;
  /** cgroup parent of every container; distinct per daemon so private daemons don't collide. */
  cgroupParent?: string;
  /** How containers get their network; defaults to isolated namespaces (loopback only). */
  networking?: ContainerNetworking;
  /** Mirrors, insecure registries and download concurrency for pull and push. */
  registry?: Partial<RegistrySettings>;
  /** Bytes of image layers above which unused images are removed, least recently used first. */
  imageGcBudget?: number;
  /**
   * `--userns-remap` (see resolveUsernsRemap): new containers run in a user namespace with
   * these mappings, their root an unprivileged host user; image layers are shown to them
   * through idmapped mounts, so images are shared with other containers and never copied.
   */
  usernsRemap?: IdMappings;
  logger?: Logger;
}

/**
 * The lower packages' objects the engine is built on. Each one not given is made with its
 * default under `dataRoot`/`execRoot` (what the daemon uses); a library user or a test can
 * hand in its own.
 */
export interface EngineComponents {
  content?: ContentStore;
  imageStore?: ImageStore;
  snapshotter?: Snapshotter;
  containerStore?: ContainerStore;
  volumes?: VolumeService;
}

/** {@link EngineOptions} and components; `runtime` is a runtime's name (crun, runc) or a ready ContainerRuntime. */
export type CreateEngineOptions = Omit<EngineOptions, 'runtime'> &
  EngineComponents & { runtime?: string | ContainerRuntime };

/**
 * The one wiring point: makes (or takes) the stores, snapshotter, runtime and networking,
 * hands each service the narrow parts it uses, then repairs what a crash left.
 */
export async function createEngine(input: CreateEngineOptions): Promise<Engine> {
  const {
    runtime: runtimeGiven,
    content: _c,
    imageStore: _i,
    snapshotter: _s,
    containerStore: _cs,
    volumes: _v,
    ...rest
  } = input;
  const options: EngineOptions = {
    ...rest,
    ...(typeof runtimeGiven === 'string' ? { runtime: runtimeGiven } : {}),
  };
  const logger = options.logger ?? silentLogger;
  await mkdir(options.dataRoot, { recursive: true, mode: 0o710 });
  await mkdir(options.execRoot, { recursive: true, mode: 0o700 });
  // Build contexts being received or fetched (remote) when the daemon last stopped.
  await rm(join(options.dataRoot, 'tmp'), { recursive: true, force: true });
  const content = input.content ?? new ContentStore(join(options.dataRoot, 'content'));
  await content.init();
  const imageStore = input.imageStore ?? new ImageStore(join(options.dataRoot, 'image'), content);
  await imageStore.init();
  const snapshotter =
    input.snapshotter ??
    (await Snapshotter.open({
      root: join(options.dataRoot, 'storage'),
      driver: options.storageDriver ?? 'auto',
    }));
  const runtime =
    typeof runtimeGiven === 'object'
      ? runtimeGiven
      : await ContainerRuntime.open({
          stateDir: options.execRoot,
          ...(runtimeGiven ? { runtime: runtimeGiven } : {}),
        });
  const images = new ImageService(content, imageStore, snapshotter);
  const containerStore = input.containerStore ?? new ContainerStore(join(options.dataRoot, 'containers'));
  const volumes = input.volumes ?? (await VolumeService.open(join(options.dataRoot, 'volumes'), logger));
  if (options.usernsRemap) {
    if (snapshotter.driver.name !== 'overlay')
      throw invalidParameter(
        '--userns-remap needs the overlay storage driver (its layers are idmapped mounts)',
      );
    const why = idmappedMountsUnavailable();
    if (why) throw invalidParameter(`--userns-remap needs idmapped mounts: ${why}`);
    await mkdir(join(options.dataRoot, 'containers'), { recursive: true });
    await allowRemappedRootTraversal([
      options.dataRoot,
      join(options.dataRoot, 'containers'),
      join(options.dataRoot, 'volumes'),
    ]);
  }
  const networking = options.networking ?? isolatedNetworking;
  const containers = new ContainerService({
    volumes,
    store: containerStore,
    images,
    snapshotter,
    runtime,
    cgroupParent: options.cgroupParent ?? '/tsctr',
    networking,
    logger,
    ...(options.usernsRemap ? { usernsRemap: options.usernsRemap } : {}),
  });
  const registry = new RegistryService(images, content, imageStore, {
    mirrors: options.registry?.mirrors ?? [],
    insecureRegistries: options.registry?.insecureRegistries ?? [],
    maxConcurrentDownloads: options.registry?.maxConcurrentDownloads ?? 3,
    ...(options.registry?.certsDirs ? { certsDirs: options.registry.certsDirs } : {}),
    logger,
  });
  const exec = new ExecService({ containers, runtime, logger });
  const swarm = await SwarmService.open(
    { options: { networking: options.networking }, containers, containerStore },
    join(options.dataRoot, 'swarm'),
  );
  const parts = {
    content,
    imageStore,
    snapshotter,
    runtime,
    images,
    containers,
    containerStore,
    volumes,
    registry,
    exec,
    stdin: new StdinBroker({ containers, store: containerStore, runtime, logger }),
    stats: new StatsService(containers),
    health: new HealthMonitor({ containers, store: containerStore, exec, logger }),
    swarm,
  };
  const services = createEngineServices({
    containers,
    containerStore,
    images,
    imageStore,
    snapshotter,
    runtime,
    volumes,
    version: ENGINE_VERSION,
    networking,
    imageGcBudget: options.imageGcBudget,
    logger,
    sizeOf: (id) => containerSize({ ...parts, options }, id),
    collectGarbage: () => collectGarbage(parts),
    assertSwarmManager: () => swarm.assertManager(),
  });
  const engine = new Engine(options, { ...parts, services });
  await repairAtStart({
    containerStore,
    containers,
    snapshotter,
    content,
    imageStore,
    repairTemporaryMounts: () => repairTemporaryMounts(engine),
    collectGarbage: () => engine.collectGarbage(),
    logger,
  });
  return engine;
}

/** The container engine: images, snapshots, runtime and containers wired together by {@link createEngine}. */
export interface EngineParts {
  content: ContentStore;
  imageStore: ImageStore;
  snapshotter: Snapshotter;
  runtime: ContainerRuntime;
  images: ImageService;
  containers: ContainerService;
  containerStore: ContainerStore;
  volumes: VolumeService;
  registry: RegistryService;
  exec: ExecService;
  stdin: StdinBroker;
  stats: StatsService;
  health: HealthMonitor;
  swarm: SwarmService;
  services: EngineServices;
}

export class Engine {
  readonly content: ContentStore;
  readonly imageStore: ImageStore;
  readonly snapshotter: Snapshotter;
  readonly runtime: ContainerRuntime;
  readonly images: ImageService;
  readonly containers: ContainerService;
  readonly containerStore: ContainerStore;
  /** Named and anonymous volumes (the local driver). */
  readonly volumes: VolumeService;
  /** Pull, push and login against OCI distribution registries. */
  readonly registry: RegistryService;
  /** `exec` sessions in running containers. */
  readonly exec: ExecService;
  /** The stdin of running containers, shared by their attached clients. */
  readonly stdin: StdinBroker;
  /** Resource usage of running containers, sampled by one shared poller. */
  readonly stats: StatsService;
  /** Health checks of running containers. */
  readonly health: HealthMonitor;
  /** Single-node swarm mode (`swarm init`, overlay networks). */
  readonly swarm: SwarmService;
  /** ps/inspect/prune, networks, image queries and GC budget, volumes, events, version and df. */
  readonly services: EngineServices;

  /** Use {@link createEngine} (or {@link Engine.open}), which wires the services. */
  constructor(
    readonly options: EngineOptions,
    parts: EngineParts,
  ) {
    this.content = parts.content;
    this.imageStore = parts.imageStore;
    this.snapshotter = parts.snapshotter;
    this.runtime = parts.runtime;
    this.images = parts.images;
    this.containers = parts.containers;
    this.containerStore = parts.containerStore;
    this.volumes = parts.volumes;
    this.registry = parts.registry;
    this.exec = parts.exec;
    this.stdin = parts.stdin;
    this.stats = parts.stats;
    this.health = parts.health;
    this.swarm = parts.swarm;
    this.services = parts.services;
  }

  /** The daemon's engine: every component made with its default (see {@link createEngine}). */
  static open(options: EngineOptions): Promise<Engine> {
    return createEngine(options);
  }

  /** `docker commit`: see {@link commitContainer}. */
  commitContainer(ref: string, options: CommitOptions = {}): Promise<string> {
    return commitContainer(this, ref, options);
  }

  /**
   * `docker rmi` (see {@link ImageService.remove}), then frees the layers no other image or
   * container uses and reports each as moby's layer store does: `Deleted: <chain ID>`, top
   * first, after the last deleted image that had it.
   */
  async removeImage(ref: string, options: Omit<RemoveImageOptions, 'usedBy' | 'isRunning'> = {}) {
    const removal = await this.images.remove(ref, {
      ...options,
      usedBy: (id) => this.containers.usingImage(id),
      isRunning: (cid) => this.containerStore.all().some((c) => c.Id === cid && c.State.Running),
    });
    if (removal.deleted.length === 0) return removal.report;
    const freed = new Set((await this.collectGarbage()).removedLayers);
    const report: ImageDeleteEntry[] = [];
    for (const entry of removal.report) {
      report.push(entry);
      const index = removal.deleted.findIndex((d) => d.id === entry.Deleted);
      if (index < 0) continue;
      const later = new Set(removal.deleted.slice(index + 1).flatMap((d) => d.layers));
      for (const key of [...removal.deleted[index]!.layers].reverse())
        if (freed.has(key) && !later.has(key)) report.push({ Deleted: key });
    }
    return report;
  }

  /** Mark and sweep of unreferenced blobs and layers: see {@link collectGarbage}. */
  collectGarbage(): Promise<GarbageCollectionResult> {
    return collectGarbage(this);
  }

  async info(): Promise<Record<string, unknown>> {
    const all = this.containerStore.all();
    const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
    const prettyName = /PRETTY_NAME="([^"]+)"/.exec(osRelease)?.[1] ?? 'Linux';
    return {
      ID: 'tsctr',
      Containers: all.length,
      ContainersRunning: all.filter((c) => c.State.Status === 'running').length,
      ContainersPaused: all.filter((c) => c.State.Status === 'paused').length,
      ContainersStopped: all.filter((c) => !c.State.Running).length,
      Images: this.imageStore.ids().length,
      Driver: this.snapshotter.driver.name,
      DriverStatus: [['Backing Filesystem', 'extfs']],
      DockerRootDir: this.options.dataRoot,
      ExecRoot: this.options.execRoot,
      Name: hostname(),
      NCPU: cpus().length,
      MemTotal: totalmem(),
      KernelVersion: release(),
      OperatingSystem: prettyName,
      OSType: 'linux',
      // Clients (docker-py) read it to skip experimental builder features (`--squash`).
      ExperimentalBuild: false,
      Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
      ServerVersion: ENGINE_VERSION,
      DefaultRuntime: this.runtime.oci.info.name,
      Runtimes: Object.fromEntries(
        [...this.runtime.runtimes].map(([name, oci]) => [name, { path: oci.info.path }]),
      ),
      Plugins: {
        Volume: ['local'],
        Network: ['bridge', 'host', 'null', 'overlay'],
        Authorization: null,
        Log: ['json-file'],
      },
      InitBinary: 'tini',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: String(await cgroupVersion()),
      LoggingDriver: 'json-file',
      SecurityOptions: ['name=seccomp,profile=builtin', ...(this.options.usernsRemap ? ['name=userns'] : [])],
      Debug: false,
      LiveRestoreEnabled: false,
      Labels: [],
      Swarm: this.swarm.info(),
      // An installed runtime that cannot work here (crun 1.8 on a cgroup v1 hybrid host) is said, not hidden.
      Warnings: this.runtime.unusable.map(
        (r) => `WARNING: ${r.name} (${r.path}) cannot run containers on this machine: ${r.reason}`,
      ),
    };
  }
}
