import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerCreateRequest, ContainerSummary, HostConfig, WaitCondition } from '@ts-container/api';
import type { Logger } from '@ts-container/common';
import { type ContainerRuntime, ContainerStartError, type LogRecord } from '@ts-container/runtime';
import { type IdMappings, type MountOptions, type Snapshotter, unmount } from '@ts-container/unionfs';
import { type ContainerCreateDeps, createContainer } from './container-create.js';
import { ContainerEditor } from './container-edit.js';
import { type LaunchDeps, launchContainer, undoLaunch } from './container-launch.js';
import { type AttachOptions, ContainerOutput, type LogsOptions } from './container-output.js';
import { ContainerSpecBuilder } from './container-spec.js';
import { type StopDeps, killContainer, stopContainer } from './container-stop.js';
import type { ContainerRecord, ContainerStore } from './container-store.js';
import { containerSummary, normaliseSignal } from './container-views.js';
import { EngineError, conflict } from './errors.js';
import { type Healthcheck, healthCommand } from './health-check.js';
import { ContainerLifecycle } from './lifecycle.js';
import { LogShipper } from './log-shipper.js';
import { removeAnonymousVolumes } from './mount-points.js';
import type { ContainerNetworking } from './networking.js';
import { recoverContainers } from './recovery.js';
import { RestartManager, shouldRestart } from './restart-manager.js';
import type { VolumeService } from './volumes.js';

export {
  containerSummary,
  dockerCommandLine,
  mountsView,
  normaliseSignal,
  statusText,
} from './container-views.js';
export { mergeConfig } from './container-create.js';
export { shouldRestart } from './restart-manager.js';
export type { AttachOptions, LogsOptions } from './container-output.js';

/** The OCI runtime operations the container service uses. */
export type ContainerRuntimeOps = Pick<
  ContainerRuntime,
  | 'create'
  | 'start'
  | 'kill'
  | 'delete'
  | 'wait'
  | 'state'
  | 'exitStatus'
  | 'update'
  | 'pause'
  | 'resume'
  | 'reopenLog'
  | 'runtimeNamed'
>;

export interface ContainerServiceOptions {
  store: ContainerStore;
  images: ContainerCreateDeps['images'];
  snapshotter: Pick<Snapshotter, 'driver' | 'prepare' | 'mounts' | 'has' | 'remove'>;
  runtime: ContainerRuntimeOps;
  /** Prefix of every container's cgroup, e.g. `/tsctr`. */
  cgroupParent: string;
  networking: ContainerNetworking;
  logger: Logger;
  /** Named and anonymous volumes (`-v name:/path`, `-v /path`, VOLUME). */
  volumes: VolumeService;
  /** `--userns-remap`: new containers run in a user namespace with these mappings. */
  usernsRemap?: IdMappings;
}

/**
 * Containers: create, start, watch, stop, remove. State changes go through the lifecycle;
 * restarts by policy through the restart manager; the OCI spec comes from the spec builder.
 */
export class ContainerService {
  /** The lifecycle's events: `create`, `start`, `die`, `pause`, `unpause`, `destroy`…, and `event`. */
  readonly lifecycle: ContainerLifecycle;
  /** Copies what conmon writes into each container's json-file log. */
  readonly logShipper: LogShipper;
  readonly restarts: RestartManager;
  private readonly spec: ContainerSpecBuilder;
  private readonly output: ContainerOutput;
  private readonly editor: ContainerEditor;
  private readonly store: ContainerStore;
  private readonly snapshotter: ContainerServiceOptions['snapshotter'];
  private readonly runtime: ContainerRuntimeOps;
  private readonly options: ContainerServiceOptions;
  /** Resolves when the current run of a container has ended (and its state is saved). */
  private readonly exits = new Map<string, Promise<void>>();
  /** Containers whose OCI runtime state and network go after their exit is recorded (build steps). */
  private readonly releaseAfterExit = new Set<string>();
  /** Those releases under way: a start or remove of the container waits for its own. */
  private readonly releases = new Map<string, Promise<void>>();
  private readonly launchDeps: LaunchDeps;
  private readonly stopDeps: StopDeps;

  constructor(options: ContainerServiceOptions) {
    this.options = options;
    this.store = options.store;
    this.snapshotter = options.snapshotter;
    this.runtime = options.runtime;
    this.lifecycle = new ContainerLifecycle(options.store);
    this.logShipper = new LogShipper(options.logger, (id) => this.runtime.reopenLog(id));
    this.restarts = new RestartManager({
      find: (id) => this.store.find(id),
      start: (id) => this.start(id, { byPolicy: true }),
      lifecycle: this.lifecycle,
      logger: options.logger,
    });
    this.spec = new ContainerSpecBuilder({
      find: (ref) => this.store.find(ref),
      get: (ref) => this.store.get(ref),
      volumes: options.volumes,
      cgroupParent: options.cgroupParent,
    });
    this.output = new ContainerOutput({
      store: this.store,
      logShipper: this.logShipper,
      lifecycle: this.lifecycle,
    });
    this.launchDeps = {
      store: this.store,
      networking: options.networking,
      spec: this.spec,
      logShipper: this.logShipper,
      runtime: this.runtime,
      logger: options.logger,
    };
    this.stopDeps = {
      store: this.store,
      restarts: this.restarts,
      lifecycle: this.lifecycle,
      runtime: this.runtime,
      exited: (id) => this.exits.get(id),
      logger: options.logger,
    };
    this.editor = new ContainerEditor({ store: this.store, runtime: this.runtime, events: this.lifecycle });
  }

  get events() {
    return this.lifecycle.events;
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

  /** IDs of containers that mount volume `name`. */
  usingVolume(name: string): string[] {
    return this.store
      .all()
      .filter((c) => c.MountPoints.some((p) => p.Type === 'volume' && p.Name === name))
      .map((c) => c.Id);
  }

  /**
   * `docker create`. With `releaseAfterExit` (a build's RUN step), the container's exit is
   * recorded (and `wait` answers) as soon as its process has ended, its filesystem is unmounted
   * and its output logged; its OCI runtime state and network namespace go after, off the
   * step's path (nothing in a step's commit needs them gone). `start` and `remove` wait for it.
   */
  async create(
    request: ContainerCreateRequest,
    name?: string,
    options: { releaseAfterExit?: boolean } = {},
  ): Promise<{ Id: string; Warnings: string[] }> {
    const o = this.options;
    const created = await createContainer(
      {
        store: o.store,
        images: o.images,
        snapshotter: o.snapshotter,
        runtime: o.runtime,
        networking: o.networking,
        volumes: o.volumes,
        lifecycle: this.lifecycle,
        ...(o.usernsRemap ? { usernsRemap: o.usernsRemap } : {}),
      },
      request,
      name,
    );
    if (options.releaseAfterExit) this.releaseAfterExit.add(created.Id);
    return created;
  }

  /** `docker update`: see {@link ContainerEditor.update}. */
  update(ref: string, changes: Partial<HostConfig>): Promise<{ Warnings: string[] }> {
    return this.editor.update(ref, changes);
  }

  rename(ref: string, newName: string): Promise<void> {
    return this.editor.rename(ref, newName);
  }

  /** `docker rm --link`: see {@link ContainerEditor.removeLink}. */
  removeLink(name: string): Promise<void> {
    return this.editor.removeLink(name);
  }

  /** The container's cgroup, relative to each cgroup v1 hierarchy's root. */
  cgroupPath(id: string, parent?: string): string {
    return this.spec.cgroupPath(id, parent);
  }

  /** How container `c`'s filesystem is mounted: through its user namespace when it has one. */
  mountOptions(c: ContainerRecord): Promise<MountOptions> {
    return this.spec.mountOptions(c);
  }

  rootfsDir(id: string): string {
    return join(this.store.dir(id), 'rootfs');
  }

  /** Starts a container; `byPolicy` marks a start by its restart policy (counted in RestartCount). */
  async start(ref: string, options: { byPolicy?: boolean } = {}): Promise<void> {
    const c = this.store.get(ref);
    if (c.State.Running) throw new EngineError('not-modified', 'container already started');
    if (!options.byPolicy) this.restarts.cancel(c.Id);
    if (c.State.Status === 'removing')
      throw conflict(`cannot start container ${c.Id}: container is marked for removal`);
    await this.releases.get(c.Id);
    const rootfs = this.rootfsDir(c.Id);
    await mkdir(rootfs, { recursive: true });
    await unmount(rootfs);
    const mounts = await this.snapshotter.mounts(c.Id);
    try {
      const created = await launchContainer(this.launchDeps, c, rootfs, mounts);
      // Watched before anyone hears of the start: a `kill` from a `start` listener finds its exit.
      this.watchExit(c.Id);
      await this.lifecycle.transition(c.Id, {
        type: 'start',
        pid: created.pid,
        monitorPid: created.monitorPid,
        byPolicy: options.byPolicy ?? false,
        healthCheck: healthCommand(c.Config.Healthcheck as Healthcheck | undefined) !== undefined,
      });
    } catch (err) {
      await undoLaunch(this.launchDeps, c.Id, rootfs);
      const exitCode = err instanceof ContainerStartError ? err.exitCode : 128;
      const record = await this.lifecycle.transition(c.Id, {
        type: 'start-failed',
        exitCode,
        error: (err as Error).message,
      });
      if (record.HostConfig.AutoRemove)
        await this.remove(c.Id, { force: true, removeVolumes: true }).catch((e: unknown) =>
          this.options.logger.error(`auto-remove ${c.Id}: ${String(e)}`),
        );
      if (err instanceof ContainerStartError && exitCode !== 125)
        throw new EngineError('invalid-parameter', err.message, { cause: err });
      throw err;
    }
  }

  /** Waits for the container's process to end, in the background, then records the exit. */
  private watchExit(id: string): void {
    this.logShipper.follow(this.store.get(id));
    const done = this.runtime
      .wait(id)
      .then((status) => {
        if (status.monitorDied)
          this.options.logger.warn(
            `container ${id}: its monitor (conmon) died; killed, exit code ${status.exitCode}`,
          );
        return this.handleExit(id, status.exitCode, status.oomKilled);
      })
      .catch((err: unknown) => this.options.logger.error(`container ${id}: ${String(err)}`));
    this.exits.set(id, done);
  }

  private async handleExit(id: string, exitCode: number, oomKilled: boolean): Promise<void> {
    // Independent of each other once the process is gone: side by side, as `run --rm` waits on them.
    const release = Promise.all([
      this.runtime
        .delete(id)
        .catch((e: unknown) => this.options.logger.warn(`runtime delete ${id}: ${String(e)}`)),
      this.options.networking
        .teardown(this.store.get(id))
        .catch((e: unknown) => this.options.logger.warn(`network teardown of ${id}: ${String(e)}`)),
    ]).then(() => undefined);
    const trailing = this.releaseAfterExit.has(id);
    if (trailing) this.releases.set(id, release);
    await Promise.all([
      ...(trailing ? [] : [release]),
      unmount(this.rootfsDir(id)),
      // Its last words are in the log before anyone learns that it ended.
      this.logShipper.finish(this.store.get(id)),
    ]);
    // Restarting from the moment it is seen exited: a remove that follows a wait is refused.
    const record = await this.lifecycle.transition(id, {
      type: 'exit',
      exitCode,
      oomKilled,
      restartIf: (r) => !r.HostConfig.AutoRemove && shouldRestart(r),
    });
    this.exits.delete(id);
    if (trailing) {
      await release;
      this.releases.delete(id);
    }
    if (record.State.Restarting) {
      await this.restarts.schedule(record);
      return;
    }
    if (record.HostConfig.AutoRemove) {
      await this.remove(id, { force: true, removeVolumes: true }).catch((e: unknown) =>
        this.options.logger.error(`auto-remove ${id}: ${String(e)}`),
      );
    }
  }

  /** After a daemon restart: see {@link recoverContainers}. */
  recover(): Promise<void> {
    return recoverContainers({
      store: this.store,
      runtime: this.runtime,
      logShipper: this.logShipper,
      restarts: this.restarts,
      watch: (id) => this.watchExit(id),
      recordExit: (id, code, oom) => this.handleExit(id, code, oom),
      start: (id) => this.start(id, { byPolicy: true }),
      logger: this.options.logger,
    });
  }

  /** `docker wait`: see {@link ContainerOutput.wait}. */
  wait(
    ref: string,
    condition: WaitCondition,
    signal?: AbortSignal,
  ): Promise<{ StatusCode: number; Error: { Message: string } | null }> {
    return this.output.wait(ref, condition, signal);
  }

  /** `docker kill`: see {@link killContainer}. */
  kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    return killContainer(this.stopDeps, ref, signal);
  }

  /** `docker stop`: see {@link stopContainer}. */
  stop(ref: string, options: { timeout?: number; signal?: string } = {}): Promise<void> {
    return stopContainer(this.stopDeps, ref, options);
  }

  async remove(ref: string, options: { force?: boolean; removeVolumes?: boolean } = {}): Promise<void> {
    let c = this.store.get(ref);
    if (c.State.Restarting && !options.force)
      throw conflict(
        `cannot remove container "${c.Name}": container is restarting: stop the container before removing or force remove`,
      );
    this.restarts.cancel(c.Id);
    // A restart by policy under way finishes first; what it started is then running.
    const starting = this.restarts.starting(c.Id);
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
    await this.releases.get(c.Id);
    if (this.store.find(c.Id) === undefined) return; // auto-removed meanwhile
    await this.lifecycle.transition(c.Id, { type: 'remove' });
    await this.runtime
      .delete(c.Id)
      .catch((e: unknown) => this.options.logger.warn(`runtime delete ${c.Id}: ${String(e)}`));
    await unmount(this.rootfsDir(c.Id));
    if (this.snapshotter.has(c.Id)) await this.snapshotter.remove(c.Id);
    this.releaseAfterExit.delete(c.Id);
    this.logShipper.forget(c.Id);
    await this.lifecycle.destroyed(c);
    // `rm -v` (and `--rm`): the container's anonymous volumes go with it, named ones stay.
    if (options.removeVolumes)
      await removeAnonymousVolumes(
        c,
        this.options.volumes,
        (name) => this.usingVolume(name).length > 0,
        this.options.logger,
      );
  }

  /** `docker pause`: freezes every process of the container (cgroup freezer, via the OCI runtime). */
  async pause(ref: string): Promise<void> {
    const c = this.store.get(ref);
    if (!c.State.Running) throw conflict(`Container ${c.Id} is not running`);
    if (c.State.Paused) throw conflict(`Container ${c.Id} is already paused`);
    await this.runtime.pause(c.Id);
    await this.lifecycle.transition(c.Id, { type: 'pause' });
  }

  async unpause(ref: string): Promise<void> {
    const c = this.store.get(ref);
    if (!c.State.Paused) throw conflict(`Container ${c.Id} is not paused`);
    await this.runtime.resume(c.Id);
    await this.lifecycle.transition(c.Id, { type: 'unpause' });
  }

  attach(ref: string, options: AttachOptions): AsyncGenerator<LogRecord> {
    return this.output.attach(ref, options);
  }

  logs(ref: string, options: LogsOptions): AsyncGenerator<LogRecord> {
    return this.output.logs(ref, options);
  }

  summary(c: ContainerRecord, imageName: (id: string) => string): ContainerSummary {
    return containerSummary(c, imageName);
  }
}
