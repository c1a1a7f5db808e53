import { mkdir, readFile, rm } from 'node:fs/promises';
import { cpus, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { type Logger, silentLogger } from '@ts-container/common';
import { ContentStore, ImageStore } from '@ts-container/image';
import { ContainerRuntime } from '@ts-container/runtime';
import {
  type IdMappings,
  Snapshotter,
  idmappedMountsUnavailable,
  mountsUnder,
  unmount,
} from '@ts-container/unionfs';
import { type CommitOptions, commitContainer, containerSize, repairTemporaryMounts } from './changes.js';
import { ContainerStore } from './container-store.js';
import { ContainerService } from './containers.js';
import { type EngineServices, createEngineServices } from './engine-services.js';
import { invalidParameter } from './errors.js';
import { type GarbageCollectionResult, collectGarbage } from './gc.js';
import { HealthMonitor } from './health.js';
import { type ImageDeleteEntry, ImageService, type RemoveImageOptions } from './images.js';
import { ExecService, StdinBroker } from './interactive.js';
import { type ContainerNetworking, isolatedNetworking } from './networking.js';
import { RegistryService, type RegistrySettings } from './registry.js';
import { StatsService, cgroupVersion } from './stats.js';
import { SwarmService } from './swarm.js';
import { allowRemappedRootTraversal } from './userns-remap.js';
import { VolumeService } from './volumes.js';

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

export const ENGINE_VERSION = '0.1.0';

/** The container engine: images, snapshots, runtime and containers wired together. */
export class Engine {
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
  /** Single-node swarm mode (`swarm init`, overlay networks); set by open(). */
  swarm!: SwarmService;
  /** ps/inspect/prune, networks, image queries and GC budget, volumes, events, version and df. */
  readonly services: EngineServices;

  private constructor(
    readonly options: EngineOptions,
    readonly content: ContentStore,
    readonly imageStore: ImageStore,
    readonly snapshotter: Snapshotter,
    readonly runtime: ContainerRuntime,
    readonly images: ImageService,
    readonly containers: ContainerService,
    readonly containerStore: ContainerStore,
    /** Named and anonymous volumes (the local driver). */
    readonly volumes: VolumeService,
  ) {
    this.registry = new RegistryService(images, content, imageStore, {
      mirrors: options.registry?.mirrors ?? [],
      insecureRegistries: options.registry?.insecureRegistries ?? [],
      maxConcurrentDownloads: options.registry?.maxConcurrentDownloads ?? 3,
      ...(options.registry?.certsDirs ? { certsDirs: options.registry.certsDirs } : {}),
      logger: options.logger ?? silentLogger,
    });
    this.exec = new ExecService(this);
    this.stdin = new StdinBroker(this);
    this.stats = new StatsService(containers);
    this.health = new HealthMonitor(this);
    this.services = createEngineServices({
      containers,
      containerStore,
      images,
      imageStore,
      snapshotter,
      runtime,
      volumes,
      version: ENGINE_VERSION,
      networking: options.networking ?? isolatedNetworking,
      imageGcBudget: options.imageGcBudget,
      logger: options.logger ?? silentLogger,
      sizeOf: (id) => containerSize(this, id),
      collectGarbage: () => this.collectGarbage(),
      assertSwarmManager: () => this.swarm.assertManager(),
    });
  }

  static async open(options: EngineOptions): Promise<Engine> {
    const logger = options.logger ?? silentLogger;
    await mkdir(options.dataRoot, { recursive: true, mode: 0o710 });
    await mkdir(options.execRoot, { recursive: true, mode: 0o700 });
    // Build contexts being received or fetched (remote) when the daemon last stopped.
    await rm(join(options.dataRoot, 'tmp'), { recursive: true, force: true });
    const content = new ContentStore(join(options.dataRoot, 'content'));
    await content.init();
    const imageStore = new ImageStore(join(options.dataRoot, 'image'), content);
    await imageStore.init();
    const snapshotter = await Snapshotter.open({
      root: join(options.dataRoot, 'storage'),
      driver: options.storageDriver ?? 'auto',
    });
    const runtime = await ContainerRuntime.open({
      stateDir: options.execRoot,
      ...(options.runtime ? { runtime: options.runtime } : {}),
    });
    const images = new ImageService(content, imageStore, snapshotter);
    const containerStore = new ContainerStore(join(options.dataRoot, 'containers'));
    const volumes = await VolumeService.open(join(options.dataRoot, 'volumes'), logger);
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
    const containers = new ContainerService({
      volumes,
      store: containerStore,
      images,
      snapshotter,
      runtime,
      cgroupParent: options.cgroupParent ?? '/tsctr',
      networking: options.networking ?? isolatedNetworking,
      logger,
      ...(options.usernsRemap ? { usernsRemap: options.usernsRemap } : {}),
    });
    const engine = new Engine(
      options,
      content,
      imageStore,
      snapshotter,
      runtime,
      images,
      containers,
      containerStore,
      volumes,
    );
    engine.swarm = await SwarmService.open(engine, join(options.dataRoot, 'swarm'));
    await engine.repair(logger);
    return engine;
  }

  /**
   * Start-up repair after a crash: drop half-created containers, unmount rootfs mounts of
   * containers that are not running, drop half-unpacked layers and partial ingests, then
   * re-attach to containers still running under their monitors.
   */
  private async repair(logger: Logger): Promise<void> {
    const dropped = await this.containerStore.load();
    for (const id of dropped) {
      logger.warn(`removing incomplete container ${id}`);
      await unmount(join(this.containerStore.root, id, 'rootfs'));
      await this.containerStore.delete(id);
    }
    await this.containers.recover();
    const running = new Set(
      this.containerStore
        .all()
        .filter((c) => c.State.Running)
        .map((c) => c.Id),
    );
    for (const mount of await mountsUnder(this.containerStore.root)) {
      const id = mount.slice(this.containerStore.root.length + 1).split('/')[0] ?? '';
      if (!running.has(id)) await unmount(mount);
    }
    for (const dir of await repairTemporaryMounts(this)) logger.warn(`removed stale mount ${dir}`);
    const removedSnapshots = await this.snapshotter.repair();
    for (const key of removedSnapshots) logger.warn(`removed incomplete layer ${key}`);
    const known = new Set(this.containerStore.all().map((c) => c.Id));
    for (const s of this.snapshotter.list()) {
      if (s.kind === 'active' && s.labels['tsctr.container'] && !known.has(s.labels['tsctr.container'])) {
        await this.snapshotter.remove(s.key);
      }
    }
    await this.content.pruneIngests(0);
    // What a crash left between storing and referencing (a load or import cut short) goes now.
    const swept = await collectGarbage(this);
    if (swept.blobs + swept.layers > 0)
      logger.warn(`removed ${swept.blobs} unreferenced blobs and ${swept.layers} unreferenced layers`);
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
