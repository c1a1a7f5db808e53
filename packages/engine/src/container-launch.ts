import type { Logger } from '@ts-container/common';
import type { ContainerRuntime } from '@ts-container/runtime';
import { type Mount, mountAll, unmount } from '@ts-container/unionfs';
import type { ContainerSpecBuilder } from './container-spec.js';
import type { ContainerRecord, ContainerStore } from './container-store.js';
import { logLimits, monitorLogSizeMax } from './log-rotation.js';
import { type LogShipper, monitorLogPath } from './log-shipper.js';
import type { ContainerNetworking } from './networking.js';

export interface LaunchDeps {
  store: Pick<ContainerStore, 'get' | 'update'>;
  networking: Pick<ContainerNetworking, 'setup' | 'teardown'>;
  spec: Pick<ContainerSpecBuilder, 'mountOptions' | 'writeEtcFiles' | 'specFor'>;
  logShipper: Pick<LogShipper, 'reset'>;
  runtime: Pick<ContainerRuntime, 'create' | 'start' | 'delete'>;
  logger: Logger;
}

/**
 * The work of a start: the rootfs mounted and the network set up side by side, the /etc
 * files and the OCI spec written, the process created and started under its monitor.
 */
export async function launchContainer(
  deps: LaunchDeps,
  c: ContainerRecord,
  rootfs: string,
  mounts: Mount[],
): Promise<{ pid: number; monitorPid: number }> {
  // Side by side (each waits on its own processes); both settled before any cleanup.
  const [network, mounted] = await Promise.allSettled([
    deps.networking.setup(c),
    deps.spec.mountOptions(c).then((options) => mountAll(mounts, rootfs, options)),
  ]);
  if (mounted.status === 'rejected') throw mounted.reason;
  if (network.status === 'rejected') throw network.reason;
  const withNetwork = await deps.store.update(c.Id, (r) => {
    r.NetworkSettings = network.value.settings;
    // container:NAME takes that container's names, as Docker does (see ContainerNetworkSetup).
    if (network.value.hostname !== undefined) r.Config.Hostname = network.value.hostname;
    if (network.value.domainname !== undefined) r.Config.Domainname = network.value.domainname;
  });
  const [spec] = await Promise.all([
    // The spec hands the /etc files to the mapped root (--userns-remap): written first.
    deps.spec
      .writeEtcFiles(withNetwork, network.value.resolvConf, network.value.hosts)
      .then(() => deps.spec.specFor(withNetwork, rootfs, network.value.namespace)),
    // A new run, a new spool; the json-file log goes on across runs, as Docker's does.
    deps.logShipper.reset(c),
  ]);
  const created = await deps.runtime.create(c.Id, spec, {
    name: c.Name.slice(1),
    logPath: monitorLogPath(c),
    stdin: c.Config.OpenStdin ?? false,
    logSizeMax: monitorLogSizeMax(logLimits(c)),
    ...(c.HostConfig.Runtime ? { runtime: c.HostConfig.Runtime } : {}),
  });
  await deps.runtime.start(c.Id);
  return created;
}

/** Undoes what a failed {@link launchContainer} may have done. */
export async function undoLaunch(deps: LaunchDeps, id: string, rootfs: string): Promise<void> {
  await deps.runtime.delete(id).catch((e: unknown) => deps.logger.warn(`cleanup of ${id}: ${String(e)}`));
  await deps.networking
    .teardown(deps.store.get(id))
    .catch((e: unknown) => deps.logger.warn(`network teardown of ${id}: ${String(e)}`));
  await unmount(rootfs);
}
