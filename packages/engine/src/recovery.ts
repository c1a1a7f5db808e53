import { join } from 'node:path';
import type { Logger } from '@ts-container/common';
import type { ContentStore, ImageStore } from '@ts-container/image';
import type { ContainerRuntime } from '@ts-container/runtime';
import { type Snapshotter, mountsUnder, unmount } from '@ts-container/unionfs';
import type { ContainerStore } from './container-store.js';
import { LOAD_UNPACK_PREFIX } from './early-layers.js';
import type { LogShipper } from './log-shipper.js';
import type { RestartManager } from './restart-manager.js';

export interface ContainerRecoveryDeps {
  store: Pick<ContainerStore, 'all'>;
  runtime: Pick<ContainerRuntime, 'state' | 'exitStatus'>;
  logShipper: Pick<LogShipper, 'finish'>;
  restarts: Pick<RestartManager, 'pending'>;
  /** Watches a running container's exit again. */
  watch(id: string): void;
  /** Records an exit that happened while the daemon was away. */
  recordExit(id: string, exitCode: number, oomKilled: boolean): Promise<void>;
  /** Starts a container by its restart policy. */
  start(id: string): Promise<void>;
  logger: Logger;
}

/**
 * After a daemon restart: containers that were running are either still running (watch them
 * again; a watch also notices a monitor that died) or ended while we were away (record their
 * exit); then
 * restart policies act as at daemon start.
 */
export async function recoverContainers(deps: ContainerRecoveryDeps): Promise<void> {
  for (const c of deps.store.all()) {
    if (!c.State.Running) {
      // Ended before a crash cut its last shipping short: what is left goes in now.
      await deps.logShipper.finish(c);
      continue;
    }
    const state = await deps.runtime.state(c.Id);
    const status =
      state && (state.status === 'running' || state.status === 'paused')
        ? undefined
        : await deps.runtime.exitStatus(c.Id);
    // Still running, or ended without an exit file (its monitor died first): the watch waits
    // for conmon, or finds it gone and kills what is left, then records the end (137, as
    // containerd reports for a dead shim).
    if (status) await deps.recordExit(c.Id, status.exitCode, status.oomKilled);
    else deps.watch(c.Id);
  }
  // Docker starts `always` containers, and `unless-stopped` ones not stopped by the user,
  // when the daemon starts.
  for (const c of deps.store.all()) {
    if (c.State.Running || deps.restarts.pending(c.Id)) continue;
    const policy = c.HostConfig.RestartPolicy?.Name ?? 'no';
    if (policy === 'always' || (policy === 'unless-stopped' && !c.StoppedByUser)) {
      await deps
        .start(c.Id)
        .catch((e: unknown) => deps.logger.warn(`restart of ${c.Id} at daemon start: ${String(e)}`));
    }
  }
}

export interface StartupRepairDeps {
  containerStore: Pick<ContainerStore, 'load' | 'all' | 'delete' | 'root'>;
  containers: { recover(): Promise<void> };
  snapshotter: Pick<Snapshotter, 'repair' | 'list' | 'remove'>;
  content: Pick<ContentStore, 'pruneIngests' | 'verifyUnsynced'>;
  imageStore: Pick<ImageStore, 'list' | 'delete'>;
  /** Temporary export/cp mounts a crash left (see repairTemporaryMounts). */
  repairTemporaryMounts(): Promise<string[]>;
  /** Mark and sweep of what nothing references (see collectGarbage). */
  collectGarbage(): Promise<{ blobs: number; layers: number }>;
  logger: Logger;
}

/**
 * Start-up repair after a crash: drop half-created containers, unmount rootfs mounts of
 * containers that are not running, drop half-unpacked layers and partial ingests, then
 * re-attach to containers still running under their monitors.
 */
export async function repairAtStart(deps: StartupRepairDeps): Promise<void> {
  const { containerStore, snapshotter, logger } = deps;
  const dropped = await containerStore.load();
  for (const id of dropped) {
    logger.warn(`removing incomplete container ${id}`);
    await unmount(join(containerStore.root, id, 'rootfs'));
    await containerStore.delete(id);
  }
  await deps.containers.recover();
  const running = new Set(
    containerStore
      .all()
      .filter((c) => c.State.Running)
      .map((c) => c.Id),
  );
  for (const mount of await mountsUnder(containerStore.root)) {
    const id = mount.slice(containerStore.root.length + 1).split('/')[0] ?? '';
    if (!running.has(id)) await unmount(mount);
  }
  for (const dir of await deps.repairTemporaryMounts()) logger.warn(`removed stale mount ${dir}`);
  const removedSnapshots = await snapshotter.repair();
  for (const key of removedSnapshots) logger.warn(`removed incomplete layer ${key}`);
  const known = new Set(containerStore.all().map((c) => c.Id));
  for (const s of snapshotter.list()) {
    const container = s.labels['tsctr.container'];
    // A container's that is gone, or a layer a load was unpacking (see EarlyLayers).
    if (
      s.kind === 'active' &&
      ((container && !known.has(container)) || s.key.startsWith(LOAD_UNPACK_PREFIX))
    ) {
      await snapshotter.remove(s.key);
    }
  }
  await deps.content.pruneIngests(0);
  await dropImagesWithLostBlobs(deps);
  // What a crash left between storing and referencing (a load or import cut short) goes now.
  const swept = await deps.collectGarbage();
  if (swept.blobs + swept.layers > 0)
    logger.warn(`removed ${swept.blobs} unreferenced blobs and ${swept.layers} unreferenced layers`);
}

/**
 * Blobs a load or pull published before they were synced (see ContentStore's `sync: 'later'`)
 * are checked against their digests; an image whose blob a crash cut short goes with the blob,
 * as if its load or pull had not happened (its layers then go at the garbage collection).
 */
async function dropImagesWithLostBlobs(deps: StartupRepairDeps): Promise<void> {
  const lost = new Set<string>(await deps.content.verifyUnsynced());
  if (lost.size === 0) return;
  for (const digest of lost) deps.logger.warn(`removed blob ${digest}: its bytes did not survive a crash`);
  for (const image of await deps.imageStore.list()) {
    const { record, config } = image;
    const blobs = [record.id, ...(record.layers?.map((l) => l.digest) ?? config.rootfs.diff_ids)];
    if (!blobs.some((b) => lost.has(b))) continue;
    deps.logger.warn(`removing image ${record.id}: a blob it needs was lost in a crash`);
    await deps.imageStore.delete(record.id);
  }
}
