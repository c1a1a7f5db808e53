import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ContainerCreateRequest, HostConfig } from '@ts-container/api';
import { type ContainerSpecInput, hostDevice } from '@ts-container/runtime';
import { EngineError, invalidParameter, notFound } from './errors.js';

type CreateHostConfig = NonNullable<ContainerCreateRequest['HostConfig']>;

const CGROUP_ROOT = '/sys/fs/cgroup';
/** dockerd's linuxMinMemory: the smallest memory limit or reservation it accepts. */
const MIN_MEMORY = 6 * 1024 * 1024;

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Whether the block I/O controller can weigh (CFQ/BFQ), as dockerd's sysinfo finds out. */
async function blkioSupports(file: 'weight' | 'weight_device', root: string): Promise<boolean> {
  if (await exists(join(root, 'cgroup.controllers'))) return exists(join(root, 'io.stat'));
  return (
    (await exists(join(root, 'blkio', `blkio.${file}`))) ||
    (await exists(join(root, 'blkio', `blkio.bfq.${file}`)))
  );
}

/** dockerd's default cgroup namespace: private on the unified hierarchy, the host's on v1. */
export async function defaultCgroupnsMode(root = CGROUP_ROOT): Promise<'host' | 'private'> {
  return (await exists(join(root, 'cgroup.controllers'))) ? 'private' : 'host';
}

/**
 * Checks the Linux resource and namespace options of `create` as dockerd does (same refusals,
 * same warnings for what the kernel cannot do) and returns the host config to record.
 */
export async function checkLinuxOptions(
  request: ContainerCreateRequest,
  hc: CreateHostConfig,
  storageDriver: string,
  root = CGROUP_ROOT,
): Promise<{ hostConfig: CreateHostConfig; warnings: string[] }> {
  const warnings: string[] = [];
  const next: CreateHostConfig = { ...hc };
  // API 1.42 removed KernelMemory; dockerd ignores it (the kernel dropped kmem.limit_in_bytes).
  next.KernelMemory = undefined;
  const gpu = (hc.DeviceRequests ?? []).find((r) =>
    JSON.stringify((r as { Capabilities?: unknown }).Capabilities ?? []).includes('gpu'),
  );
  if (gpu) {
    const driver = (gpu as { Driver?: string }).Driver ?? '';
    // dockerd's words when no device driver (nvidia) is registered: this engine has none.
    throw new EngineError(
      'system',
      `could not select device driver "${driver}" with capabilities: [[gpu]] (tsctrd has no GPU support)`,
    );
  }
  if (hc.OomScoreAdj !== undefined && (hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000))
    throw invalidParameter(`Invalid value ${hc.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  if (hc.MemorySwappiness === -1 || hc.MemorySwappiness === null) next.MemorySwappiness = undefined;
  else if (hc.MemorySwappiness !== undefined && (hc.MemorySwappiness < 0 || hc.MemorySwappiness > 100))
    throw invalidParameter(`Invalid value: ${hc.MemorySwappiness}, valid memory swappiness range is 0-100`);
  if (hc.OomKillDisable && !hc.Memory)
    warnings.push(
      'OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    );
  if (hc.MemoryReservation) {
    if (hc.MemoryReservation < MIN_MEMORY)
      throw invalidParameter('Minimum memory reservation allowed is 6MB');
    if (hc.Memory && hc.Memory < hc.MemoryReservation)
      throw invalidParameter('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (hc.BlkioWeight) {
    if (hc.BlkioWeight < 10 || hc.BlkioWeight > 1000)
      throw invalidParameter('Range of blkio weight is from 10 to 1000');
    if (!(await blkioSupports('weight', root))) {
      warnings.push(
        'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.',
      );
      next.BlkioWeight = 0;
    }
  }
  if ((hc.BlkioWeightDevice ?? []).length > 0 && !(await blkioSupports('weight_device', root))) {
    warnings.push(
      'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.',
    );
    next.BlkioWeightDevice = [];
  }
  const uts = hc.UTSMode ?? '';
  if (uts !== '' && uts !== 'host') throw invalidParameter(`invalid UTS mode: ${uts}`);
  if (uts === 'host' && request.Hostname)
    throw invalidParameter('conflicting options: hostname and the UTS mode');
  const cgroupns = hc.CgroupnsMode ?? '';
  if (cgroupns !== '' && cgroupns !== 'host' && cgroupns !== 'private')
    throw invalidParameter(`invalid cgroup namespace mode: ${cgroupns}`);
  next.CgroupnsMode = cgroupns || (await defaultCgroupnsMode(root));
  for (const rule of hc.DeviceCgroupRules ?? []) deviceRule(rule);
  if (Object.keys(hc.StorageOpt ?? {}).length > 0)
    // Neither driver has a quota to size a container's layer with.
    throw new EngineError(
      'system',
      storageDriver === 'overlay'
        ? "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
        : `--storage-opt is not supported for ${storageDriver}`,
    );
  const volumeDriver = hc.VolumeDriver ?? '';
  if (volumeDriver !== '' && volumeDriver !== 'local' && makesVolumes(request, hc))
    throw notFound(`error looking up volume plugin ${volumeDriver}: plugin "${volumeDriver}" not found`);
  return { hostConfig: next, warnings };
}

/** Whether `create` makes a named or anonymous volume (what a volume driver would be asked for). */
function makesVolumes(request: ContainerCreateRequest, hc: CreateHostConfig): boolean {
  return (
    Object.keys(request.Volumes ?? {}).length > 0 ||
    (hc.Binds ?? []).some((b) => !b.startsWith('/')) ||
    (hc.Mounts ?? []).some((m) => m.Type === 'volume')
  );
}

/** `c 1:3 mr` → an OCI device cgroup entry (the kernel's devices.allow syntax). */
function deviceRule(rule: string): NonNullable<ContainerSpecInput['deviceCgroupRules']>[number] {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule);
  if (!m) throw invalidParameter(`invalid device cgroup format '${rule}'`);
  return {
    type: m[1] as 'a' | 'b' | 'c',
    ...(m[2] === '*' ? {} : { major: Number(m[2]) }),
    ...(m[3] === '*' ? {} : { minor: Number(m[3]) }),
    access: m[4]!,
  };
}

/** The container's name in the host's UTS namespace: the host's own (`--uts host`). */
export function utsHostname(hc: HostConfig): string | undefined {
  return hc.UTSMode === 'host' ? hostname() : undefined;
}

/** The cgroup v1 path of a container under its `--cgroup-parent`, or under the daemon's. */
export function containerCgroupPath(id: string, daemonParent: string, parent?: string): string {
  // Absolute, as dockerd's cgroupfs driver joins it: not relative to the daemon's own cgroup.
  return parent ? `/${parent.replace(/^\/+|\/+$/g, '')}/${id}` : `${daemonParent}/${id}`;
}

/** What the OCI spec gets from the Linux options of a container's host config. */
export async function linuxSpecOptions(hc: HostConfig): Promise<
  Pick<ContainerSpecInput, 'annotations' | 'cgroupNamespace' | 'hostUts' | 'deviceCgroupRules'> & {
    oomScoreAdj?: number;
    blockIO?: Record<string, unknown>;
  }
> {
  const numbers = async (path: string) => {
    const d = await hostDevice(path);
    return { major: d.major, minor: d.minor };
  };
  const throttle = (list: Array<{ Path: string; Rate: number }> | null | undefined) =>
    Promise.all((list ?? []).map(async (t) => ({ ...(await numbers(t.Path)), rate: t.Rate })));
  const blockIO: Record<string, unknown> = {};
  if (hc.BlkioWeight) blockIO.weight = hc.BlkioWeight;
  const weightDevice = await Promise.all(
    (hc.BlkioWeightDevice ?? []).map(async (w) => ({ ...(await numbers(w.Path)), weight: w.Weight })),
  );
  if (weightDevice.length > 0) blockIO.weightDevice = weightDevice;
  for (const [key, list] of [
    ['throttleReadBpsDevice', hc.BlkioDeviceReadBps],
    ['throttleWriteBpsDevice', hc.BlkioDeviceWriteBps],
    ['throttleReadIOPSDevice', hc.BlkioDeviceReadIOps],
    ['throttleWriteIOPSDevice', hc.BlkioDeviceWriteIOps],
  ] as const) {
    const entries = await throttle(list);
    if (entries.length > 0) blockIO[key] = entries;
  }
  return {
    annotations: hc.Annotations ?? {},
    cgroupNamespace: hc.CgroupnsMode === 'private',
    hostUts: hc.UTSMode === 'host',
    deviceCgroupRules: (hc.DeviceCgroupRules ?? []).map(deviceRule),
    ...(hc.OomScoreAdj ? { oomScoreAdj: hc.OomScoreAdj } : {}),
    ...(Object.keys(blockIO).length > 0 ? { blockIO } : {}),
  };
}
