import { readFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import type { ContainerRecord } from './container-store.js';
import type { ContainerService } from './containers.js';

/** Docker's `GET /containers/{id}/stats` document. */
export interface ContainerStats {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: {
    io_service_bytes_recursive: BlkioEntry[] | null;
    io_serviced_recursive: BlkioEntry[] | null;
    io_queue_recursive: null;
    io_service_time_recursive: null;
    io_wait_time_recursive: null;
    io_merged_recursive: null;
    io_time_recursive: null;
    sectors_recursive: null;
  };
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; max_usage?: number; stats?: Record<string, number>; limit?: number };
  name: string;
  id: string;
  networks?: Record<string, NetworkStats>;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface CpuStats {
  cpu_usage: {
    total_usage: number;
    percpu_usage?: number[];
    usage_in_kernelmode: number;
    usage_in_usermode: number;
  };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

const CGROUP_ROOT = '/sys/fs/cgroup';
/** USER_HZ: the unit of cpuacct.stat and /proc/stat. */
const CLOCK_TICKS = 100;
const ZERO_TIME = '0001-01-01T00:00:00Z';

function emptyCpu(): CpuStats {
  return {
    cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/** The zeroed document Docker returns for a container that is not running. */
export function emptyStats(c: ContainerRecord): ContainerStats {
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: blkio(null, null),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpu(),
    precpu_stats: emptyCpu(),
    memory_stats: {},
    name: c.Name,
    id: c.Id,
  };
}

function blkio(bytes: BlkioEntry[] | null, ios: BlkioEntry[] | null): ContainerStats['blkio_stats'] {
  return {
    io_service_bytes_recursive: bytes,
    io_serviced_recursive: ios,
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}

const read = (path: string) => readFile(path, 'utf8').catch(() => undefined);
const num = (text: string | undefined) => (text === undefined ? undefined : Number(text.trim()));

/** pids.current and pids.max, named alike in cgroup v1 and v2 (`max`: no limit). */
function pidsStats(current: string | undefined, max: string | undefined): ContainerStats['pids_stats'] {
  return {
    ...(current !== undefined ? { current: num(current)! } : {}),
    ...(max !== undefined && max.trim() !== 'max' ? { limit: num(max)! } : {}),
  };
}

function keyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

function blkioEntries(text: string | undefined): BlkioEntry[] | null {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, op, value] = line.trim().split(/\s+/);
    if (!dev || !op || value === undefined || !dev.includes(':')) continue;
    const [major, minor] = dev.split(':').map(Number);
    out.push({ major: major ?? 0, minor: minor ?? 0, op, value: Number(value) });
  }
  return out.length ? out : null;
}

/** Interfaces other than `lo` from the container's network namespace. */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const [name, rest] = line.split(':');
    if (!name || rest === undefined || name.trim() === 'lo') continue;
    const f = rest.trim().split(/\s+/).map(Number);
    out[name.trim()] = {
      rx_bytes: f[0] ?? 0,
      rx_packets: f[1] ?? 0,
      rx_errors: f[2] ?? 0,
      rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0,
      tx_packets: f[9] ?? 0,
      tx_errors: f[10] ?? 0,
      tx_dropped: f[11] ?? 0,
    };
  }
  return out;
}

async function systemCpuUsage(): Promise<number | undefined> {
  const line = (await read('/proc/stat'))?.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq, as Docker sums them.
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((a, b) => a + Number(b), 0);
  return (ticks * 1e9) / CLOCK_TICKS;
}

/**
 * The cgroup version of the hierarchy at `root`: 2 when it is the unified hierarchy itself
 * (cgroup.controllers at its top), 1 otherwise (a v1 or hybrid layout, as on this machine).
 */
export async function cgroupVersion(root = CGROUP_ROOT): Promise<1 | 2> {
  return (await read(join(root, 'cgroup.controllers'))) === undefined ? 1 : 2;
}

/** One sample of a running container's cgroup counters (v1 or v2, as the host has them). */
export async function sampleStats(
  c: ContainerRecord,
  cgroupPath: string,
  root = CGROUP_ROOT,
): Promise<ContainerStats> {
  return (await cgroupVersion(root)) === 2
    ? sampleV2(c, join(root, cgroupPath))
    : sampleV1(c, cgroupPath, root);
}

/** cgroup v1: one hierarchy per controller. */
async function sampleV1(c: ContainerRecord, cgroupPath: string, root: string): Promise<ContainerStats> {
  const cg = (controller: string, file: string) => read(join(root, controller, cgroupPath, file));
  const [
    usage,
    maxUsage,
    limit,
    memStat,
    cpuUsage,
    perCpu,
    cpuStat,
    cpuThrottle,
    pids,
    pidsMax,
    ioBytes,
    ioOps,
    netDev,
    sys,
  ] = await Promise.all([
    cg('memory', 'memory.usage_in_bytes'),
    cg('memory', 'memory.max_usage_in_bytes'),
    cg('memory', 'memory.limit_in_bytes'),
    cg('memory', 'memory.stat'),
    cg('cpuacct', 'cpuacct.usage'),
    cg('cpuacct', 'cpuacct.usage_percpu'),
    cg('cpuacct', 'cpuacct.stat'),
    cg('cpu', 'cpu.stat'),
    cg('pids', 'pids.current'),
    cg('pids', 'pids.max'),
    cg('blkio', 'blkio.throttle.io_service_bytes_recursive').then(
      async (t) => t ?? (await cg('blkio', 'blkio.throttle.io_service_bytes')),
    ),
    cg('blkio', 'blkio.throttle.io_serviced_recursive').then(
      async (t) => t ?? (await cg('blkio', 'blkio.throttle.io_serviced')),
    ),
    c.State.Pid > 0 ? read(`/proc/${c.State.Pid}/net/dev`) : Promise.resolve(undefined),
    systemCpuUsage(),
  ]);
  const ticks = keyValues(cpuStat);
  const throttle = keyValues(cpuThrottle);
  const hostMemory = totalmem();
  const memLimit = num(limit);
  const stats: ContainerStats = {
    read: new Date().toISOString(),
    preread: ZERO_TIME,
    pids_stats: pidsStats(pids, pidsMax),
    blkio_stats: blkio(blkioEntries(ioBytes), blkioEntries(ioOps)),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: {
      cpu_usage: {
        total_usage: num(cpuUsage) ?? 0,
        ...(perCpu ? { percpu_usage: perCpu.trim().split(/\s+/).map(Number) } : {}),
        usage_in_kernelmode: ((ticks.system ?? 0) * 1e9) / CLOCK_TICKS,
        usage_in_usermode: ((ticks.user ?? 0) * 1e9) / CLOCK_TICKS,
      },
      ...(sys !== undefined ? { system_cpu_usage: sys } : {}),
      online_cpus: availableParallelism(),
      throttling_data: {
        periods: throttle.nr_periods ?? 0,
        throttled_periods: throttle.nr_throttled ?? 0,
        throttled_time: throttle.throttled_time ?? 0,
      },
    },
    precpu_stats: emptyCpu(),
    memory_stats: {
      ...(usage !== undefined ? { usage: num(usage)! } : {}),
      ...(maxUsage !== undefined ? { max_usage: num(maxUsage)! } : {}),
      stats: keyValues(memStat),
      // An unlimited cgroup reports a near-2^63 limit; Docker shows the host's memory instead.
      ...(memLimit !== undefined ? { limit: Math.min(memLimit, hostMemory) } : {}),
    },
    name: c.Name,
    id: c.Id,
  };
  if (netDev !== undefined) stats.networks = parseNetDev(netDev);
  return stats;
}

type Subscriber = (stats: ContainerStats) => void;

/**
 * `docker stats`: one poller for all clients. Every second it samples each container somebody
 * watches, once, and hands the sample (with the previous one as `precpu_stats`) to all of
 * that container's subscribers.
 */
export class StatsService {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly previous = new Map<string, ContainerStats>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly containers: ContainerService,
    readonly intervalMs = 1000,
  ) {}

  /** One sample now (and the previous one's CPU figures, when the poller has one). */
  async sample(ref: string): Promise<ContainerStats> {
    const c = this.containers.get(ref);
    if (!c.State.Running) return emptyStats(c);
    const stats = await sampleStats(c, this.containers.cgroupPath(c.Id, c.HostConfig.CgroupParent));
    const prev = this.previous.get(c.Id);
    if (prev) {
      stats.precpu_stats = prev.cpu_stats;
      stats.preread = prev.read;
    }
    return stats;
  }

  /** Calls `fn` with a new sample every interval until the returned function is called. */
  subscribe(ref: string, fn: Subscriber): () => void {
    const id = this.containers.get(ref).Id;
    let set = this.subscribers.get(id);
    if (!set) {
      set = new Set();
      this.subscribers.set(id, set);
    }
    set.add(fn);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    }
    void this.tick([id]);
    return () => {
      const s = this.subscribers.get(id);
      s?.delete(fn);
      if (s && s.size === 0) {
        this.subscribers.delete(id);
        this.previous.delete(id);
      }
      if (this.subscribers.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private async tick(only?: string[]): Promise<void> {
    for (const id of only ?? [...this.subscribers.keys()]) {
      const set = this.subscribers.get(id);
      if (!set) continue;
      let stats: ContainerStats;
      try {
        stats = await this.sample(id);
      } catch {
        continue; // removed meanwhile
      }
      if (stats.read !== ZERO_TIME) this.previous.set(id, stats);
      for (const fn of set) fn(stats);
    }
  }
}

/**
 * cgroup v2: one directory with every controller's files, in the units and keys Docker reports
 * for v2 hosts (CPU times from microseconds, no per-CPU usage, `io.stat` as read/write entries,
 * memory.stat's v2 keys).
 */
async function sampleV2(c: ContainerRecord, dir: string): Promise<ContainerStats> {
  const [current, peak, max, memStat, cpuStat, pids, pidsMax, ioStat, netDev, sys] = await Promise.all([
    read(join(dir, 'memory.current')),
    read(join(dir, 'memory.peak')),
    read(join(dir, 'memory.max')),
    read(join(dir, 'memory.stat')),
    read(join(dir, 'cpu.stat')),
    read(join(dir, 'pids.current')),
    read(join(dir, 'pids.max')),
    read(join(dir, 'io.stat')),
    c.State.Pid > 0 ? read(`/proc/${c.State.Pid}/net/dev`) : Promise.resolve(undefined),
    systemCpuUsage(),
  ]);
  const cpu = keyValues(cpuStat);
  const usec = (key: string) => (cpu[key] ?? 0) * 1000;
  const limit = max === undefined || max.trim() === 'max' ? totalmem() : Math.min(num(max)!, totalmem());
  const [bytes, ios] = ioStatEntries(ioStat);
  const stats: ContainerStats = {
    read: new Date().toISOString(),
    preread: ZERO_TIME,
    pids_stats: pidsStats(pids, pidsMax),
    blkio_stats: blkio(bytes, ios),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: {
      cpu_usage: {
        total_usage: usec('usage_usec'),
        usage_in_kernelmode: usec('system_usec'),
        usage_in_usermode: usec('user_usec'),
      },
      ...(sys !== undefined ? { system_cpu_usage: sys } : {}),
      online_cpus: availableParallelism(),
      throttling_data: {
        periods: cpu.nr_periods ?? 0,
        throttled_periods: cpu.nr_throttled ?? 0,
        throttled_time: usec('throttled_usec'),
      },
    },
    precpu_stats: emptyCpu(),
    memory_stats: {
      ...(current !== undefined ? { usage: num(current)! } : {}),
      ...(peak !== undefined ? { max_usage: num(peak)! } : {}),
      stats: keyValues(memStat),
      ...(max !== undefined ? { limit } : {}),
    },
    name: c.Name,
    id: c.Id,
  };
  if (netDev !== undefined) stats.networks = parseNetDev(netDev);
  return stats;
}

/** `io.stat` (`8:0 rbytes=… wbytes=… rios=… wios=…`) as Docker's v2 read/write entries. */
function ioStatEntries(text: string | undefined): [BlkioEntry[] | null, BlkioEntry[] | null] {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...fields] = line.trim().split(/\s+/);
    if (!dev?.includes(':')) continue;
    const [major = 0, minor = 0] = dev.split(':').map(Number);
    const f = Object.fromEntries(fields.map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
    bytes.push(
      { major, minor, op: 'read', value: f.rbytes ?? 0 },
      { major, minor, op: 'write', value: f.wbytes ?? 0 },
    );
    ios.push(
      { major, minor, op: 'read', value: f.rios ?? 0 },
      { major, minor, op: 'write', value: f.wios ?? 0 },
    );
  }
  return [bytes.length ? bytes : null, ios.length ? ios : null];
}
