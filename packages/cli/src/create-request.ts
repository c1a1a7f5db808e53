import { readFileSync } from 'node:fs';
import type { ContainerCreateRequest } from '@ts-container/api';
import {
  type PortMapping,
  parseGoDuration,
  parsePortRange,
  parsePortSpecs,
  ramInBytes,
} from '@ts-container/common';
import { CommandError } from './context.js';
import type { FlagSpec, FlagValues } from './flags.js';

/** The flags `run` and `create` share (Docker's container flags). */
export const CONTAINER_FLAGS: FlagSpec[] = [
  { name: 'name', type: 'string', description: 'Assign a name to the container' },
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  {
    name: 'rm',
    type: 'bool',
    description: 'Automatically remove the container and its associated anonymous volumes when it exits',
  },
  { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
  { name: 'label', short: 'l', type: 'list', description: 'Set meta data on a container' },
  { name: 'label-file', type: 'list', description: 'Read in a line delimited file of labels' },
  { name: 'device', type: 'list', description: 'Add a host device to the container' },
  { name: 'cidfile', type: 'string', description: 'Write the container ID to the file' },
  { name: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', description: 'Publish all exposed ports to random ports' },
  { name: 'expose', type: 'list', description: 'Expose a port or a range of ports' },
  { name: 'volume', short: 'v', type: 'list', description: 'Bind mount a volume' },
  { name: 'mount', type: 'list', description: 'Attach a filesystem mount to the container' },
  { name: 'volumes-from', type: 'list', description: 'Mount volumes from the specified container(s)' },
  { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  {
    name: 'user',
    short: 'u',
    type: 'string',
    description: 'Username or UID (format: <name|uid>[:<group|gid>])',
  },
  { name: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { name: 'domainname', type: 'string', description: 'Container NIS domain name' },
  { name: 'memory', short: 'm', type: 'string', description: 'Memory limit' },
  {
    name: 'memory-swap',
    type: 'string',
    description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
  },
  { name: 'cpus', type: 'string', description: 'Number of CPUs' },
  { name: 'cpu-shares', short: 'c', type: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', type: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'cpu-quota', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-period', type: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'pids-limit', type: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  {
    name: 'restart',
    type: 'string',
    description: 'Restart policy to apply when a container exits',
    default: 'no',
  },
  { name: 'network', type: 'string', description: 'Connect a container to a network', default: 'default' },
  { name: 'net', type: 'string', description: 'Connect a container to a network', hidden: true },
  { name: 'network-alias', type: 'list', description: 'Add network-scoped alias for the container' },
  { name: 'ip', type: 'string', description: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'mac-address', type: 'string', description: 'Container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { name: 'dns', type: 'list', description: 'Set custom DNS servers' },
  { name: 'dns-search', type: 'list', description: 'Set custom DNS search domains' },
  { name: 'dns-option', type: 'list', description: 'Set DNS options' },
  { name: 'add-host', type: 'list', description: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'link', type: 'list', description: 'Add link to another container' },
  { name: 'privileged', type: 'bool', description: 'Give extended privileges to this container' },
  { name: 'cap-add', type: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', description: 'Drop Linux capabilities' },
  { name: 'security-opt', type: 'list', description: 'Security Options' },
  { name: 'read-only', type: 'bool', description: "Mount the container's root filesystem as read only" },
  { name: 'ulimit', type: 'list', description: 'Ulimit options' },
  {
    name: 'init',
    type: 'bool',
    description: 'Run an init inside the container that forwards signals and reaps processes',
  },
  { name: 'stop-signal', type: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'int', description: 'Timeout (in seconds) to stop a container' },
  { name: 'shm-size', type: 'string', description: 'Size of /dev/shm' },
  { name: 'sysctl', type: 'list', description: 'Sysctl options' },
  { name: 'tmpfs', type: 'list', description: 'Mount a tmpfs directory' },
  { name: 'log-driver', type: 'string', description: 'Logging driver for the container' },
  { name: 'log-opt', type: 'list', description: 'Log driver options' },
  { name: 'runtime', type: 'string', description: 'Runtime to use for this container' },
  { name: 'ipc', type: 'string', description: 'IPC mode to use' },
  { name: 'pid', type: 'string', description: 'PID namespace to use' },
  { name: 'userns', type: 'string', description: 'User namespace to use' },
  { name: 'health-cmd', type: 'string', description: 'Command to run to check health' },
  { name: 'health-interval', type: 'string', description: 'Time between running the check (ms|s|m|h)' },
  {
    name: 'health-timeout',
    type: 'string',
    description: 'Maximum time to allow one check to run (ms|s|m|h)',
  },
  { name: 'health-retries', type: 'int', description: 'Consecutive failures needed to report unhealthy' },
  {
    name: 'health-start-period',
    type: 'string',
    description: 'Start period for the container to initialize before starting health-retries countdown',
  },
  { name: 'no-healthcheck', type: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
  {
    name: 'health-on-failure',
    type: 'string',
    description: 'Action to take once the container turns unhealthy (none|kill|restart|stop)',
  },
  { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  {
    name: 'pull',
    type: 'string',
    description: 'Pull image before running ("always", "missing", "never")',
    default: 'missing',
  },
  { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the pull output' },
  {
    name: 'annotation',
    type: 'list',
    description: 'Add an annotation to the container (passed through to the OCI runtime)',
  },
  {
    name: 'blkio-weight',
    type: 'int',
    description: 'Block IO (relative weight), between 10 and 1000, or 0 to disable',
  },
  { name: 'blkio-weight-device', type: 'list', description: 'Block IO weight (relative device weight)' },
  { name: 'device-read-bps', type: 'list', description: 'Limit read rate (bytes per second) from a device' },
  { name: 'device-read-iops', type: 'list', description: 'Limit read rate (IO per second) from a device' },
  { name: 'device-write-bps', type: 'list', description: 'Limit write rate (bytes per second) to a device' },
  { name: 'device-write-iops', type: 'list', description: 'Limit write rate (IO per second) to a device' },
  { name: 'device-cgroup-rule', type: 'list', description: 'Add a rule to the cgroup allowed devices list' },
  { name: 'cgroup-parent', type: 'string', description: 'Optional parent cgroup for the container' },
  { name: 'cgroupns', type: 'string', description: 'Cgroup namespace to use (host|private)' },
  { name: 'uts', type: 'string', description: 'UTS namespace to use' },
  { name: 'group-add', type: 'list', description: 'Add additional groups to join' },
  {
    name: 'health-start-interval',
    type: 'string',
    description: 'Time between running the check during the start period (ms|s|m|h)',
  },
  { name: 'ip6', type: 'string', description: 'IPv6 address (e.g., 2001:db8::33)' },
  { name: 'link-local-ip', type: 'list', description: 'Container IPv4/IPv6 link-local addresses' },
  { name: 'kernel-memory', type: 'string', description: 'Kernel memory limit' },
  { name: 'memory-reservation', type: 'string', description: 'Memory soft limit' },
  {
    name: 'memory-swappiness',
    type: 'int',
    description: 'Tune container memory swappiness (0 to 100)',
    default: -1,
  },
  { name: 'oom-kill-disable', type: 'bool', description: 'Disable OOM Killer' },
  { name: 'oom-score-adj', type: 'int', description: "Tune host's OOM preferences (-1000 to 1000)" },
  { name: 'cpu-rt-period', type: 'int', description: 'Limit CPU real-time period in microseconds' },
  { name: 'cpu-rt-runtime', type: 'int', description: 'Limit CPU real-time runtime in microseconds' },
  { name: 'storage-opt', type: 'list', description: 'Storage driver options for the container' },
  { name: 'volume-driver', type: 'string', description: 'Optional volume driver for the container' },
  {
    name: 'gpus',
    type: 'string',
    description: "GPU devices to add to the container ('all' to pass all GPUs)",
  },
  { name: 'use-api-socket', type: 'bool', description: 'Bind mount the engine API socket and required auth' },
  { name: 'disable-content-trust', type: 'bool', description: 'Skip image verification', default: true },
];

/** `512m`, `1g`, `1024` → bytes (go-units RAMInBytes), failing as the docker CLI does for a flag. */
export function parseBytes(value: string, flag: string): number {
  try {
    return ramInBytes(value);
  } catch (err) {
    throw new CommandError(`invalid argument "${value}" for "${flag}" flag: ${(err as Error).message}`, 125);
  }
}

/** `30s`, `1m30s`, `500ms` → nanoseconds (Go durations), failing with the CLI's exit status. */
export function parseDuration(value: string): number {
  try {
    return parseGoDuration(value);
  } catch (err) {
    throw new CommandError((err as Error).message, 125);
  }
}

/** `-p` specs into ExposedPorts and PortBindings (docker/go-connections' nat.ParsePortSpecs rules). */
export function parsePublish(specs: string[]): {
  exposed: Record<string, object>;
  bindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
} {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  let mappings: PortMapping[];
  try {
    mappings = parsePortSpecs(specs);
  } catch (err) {
    throw new CommandError((err as Error).message, 125);
  }
  for (const m of mappings) {
    const key = `${m.containerPort}/${m.protocol}`;
    exposed[key] = {};
    const hostPort =
      m.hostPort === undefined
        ? ''
        : m.hostPortEnd === undefined
          ? `${m.hostPort}`
          : `${m.hostPort}-${m.hostPortEnd}`;
    (bindings[key] ??= []).push({ HostIp: m.hostIp, HostPort: hostPort });
  }
  return { exposed, bindings };
}

/** Where `--health-on-failure` travels (the engine's HealthMonitor reads it). */
export const HEALTH_ON_FAILURE_LABEL = 'io.tsctr.health-on-failure';

export function parseRestart(value: string): {
  Name: 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount: number;
} {
  const [name = '', count] = value.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure', ''].includes(name)) {
    throw new CommandError(`invalid restart policy format: ${value}`, 125);
  }
  if (count !== undefined && name !== 'on-failure')
    throw new CommandError(
      `invalid restart policy format: maximum retry count can only be used with 'on-failure'`,
      125,
    );
  const n = count === undefined ? 0 : Number(count);
  if (!Number.isInteger(n) || n < 0)
    throw new CommandError('invalid restart policy format: maximum retry count must be an integer', 125);
  return { Name: (name || 'no') as 'no', MaximumRetryCount: n };
}

function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CommandError(
      `open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
      125,
    );
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

type MountRequest = NonNullable<NonNullable<ContainerCreateRequest['HostConfig']>['Mounts']>[number];

/** `--mount type=volume,source=data,target=/data,readonly,volume-opt=o=size=1m…`, as the docker CLI reads it. */
export function parseMount(value: string): MountRequest {
  const invalid = (why: string) =>
    new CommandError(`invalid argument "${value}" for "--mount" flag: ${why}`, 125);
  const mount: Record<string, unknown> = { Type: 'volume' };
  const volumeOptions: {
    NoCopy?: boolean;
    Labels?: Record<string, string>;
    DriverConfig?: { Options: Record<string, string> };
  } = {};
  const tmpfsOptions: { SizeBytes?: number; Mode?: number } = {};
  for (const field of value.split(',')) {
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const v = i < 0 ? undefined : field.slice(i + 1);
    const bool = () => v === undefined || v === 'true' || v === '1';
    switch (key) {
      case 'type':
        if (!['volume', 'bind', 'tmpfs'].includes(v ?? '')) throw invalid(`invalid mount type: ${v}`);
        mount.Type = v;
        break;
      case 'source':
      case 'src':
        mount.Source = v;
        break;
      case 'target':
      case 'destination':
      case 'dst':
        mount.Target = v;
        break;
      case 'readonly':
      case 'ro':
        mount.ReadOnly = bool();
        break;
      case 'volume-nocopy':
        volumeOptions.NoCopy = bool();
        break;
      case 'volume-label': {
        const [lk = '', ...rest] = (v ?? '').split('=');
        volumeOptions.Labels = { ...volumeOptions.Labels, [lk]: rest.join('=') };
        break;
      }
      case 'volume-opt': {
        const [ok = '', ...rest] = (v ?? '').split('=');
        volumeOptions.DriverConfig = {
          Options: { ...volumeOptions.DriverConfig?.Options, [ok]: rest.join('=') },
        };
        break;
      }
      case 'tmpfs-size':
        tmpfsOptions.SizeBytes = parseBytes(v ?? '', '--mount tmpfs-size');
        break;
      case 'tmpfs-mode':
        tmpfsOptions.Mode = Number.parseInt(v ?? '', 8);
        break;
      case 'bind-propagation':
      case 'consistency':
        break;
      default:
        throw invalid(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (typeof mount.Target !== 'string' || mount.Target === '') throw invalid('target is required');
  if (Object.keys(volumeOptions).length > 0) mount.VolumeOptions = volumeOptions;
  if (Object.keys(tmpfsOptions).length > 0) mount.TmpfsOptions = tmpfsOptions;
  return mount as MountRequest;
}

/** `--cpus 1.5` → NanoCpus, with the docker CLI's error for what is not a number. */
export function parseNanoCpus(value: string): number {
  const cpus = Number(value);
  if (!Number.isFinite(cpus) || cpus < 0)
    throw new CommandError(
      `invalid argument "${value}" for "--cpus" flag: failed to parse ${value} as a rational number`,
      125,
    );
  return Math.round(cpus * 1e9);
}

/** `--device HOST[:CONTAINER][:PERMISSIONS]`, as the docker CLI reads it. */
export function parseDevice(value: string): {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
} {
  const parts = value.split(':');
  const isPermissions = (p: string | undefined) => p !== undefined && /^[rwm]{1,3}$/.test(p);
  const [host = '', second, third] = parts;
  if (parts.length > 3 || host === '' || (parts.length === 3 && !isPermissions(third)))
    throw new CommandError(
      `invalid argument "${value}" for "--device" flag: bad format for path: ${value}`,
      125,
    );
  if (parts.length === 2 && isPermissions(second))
    return { PathOnHost: host, PathInContainer: host, CgroupPermissions: second! };
  return { PathOnHost: host, PathInContainer: second || host, CgroupPermissions: third ?? 'rwm' };
}

/** `--blkio-weight-device /dev/sda:300`, validated as the docker CLI's ValidateWeightDevice. */
export function parseWeightDevice(value: string): { Path: string; Weight: number } {
  const bad = (why: string) =>
    new CommandError(`invalid argument "${value}" for "--blkio-weight-device" flag: ${why}`, 125);
  const i = value.indexOf(':');
  if (i <= 0) throw bad(`bad format: ${value}`);
  const path = value.slice(0, i);
  if (!path.startsWith('/dev/')) throw bad(`bad format for device path: ${value}`);
  const v = value.slice(i + 1);
  const weight = Number(v);
  if (!/^\d+$/.test(v) || weight > 65535 || (weight > 0 && (weight < 10 || weight > 1000)))
    throw bad(`invalid weight for device: ${value}`);
  return { Path: path, Weight: weight };
}

/** `--device-{read,write}-{bps,iops} /dev/sda:1mb`, as the docker CLI's ValidateThrottle*Device. */
export function parseThrottleDevice(
  value: string,
  flag: string,
  unit: 'bps' | 'iops',
): { Path: string; Rate: number } {
  const bad = (why: string) =>
    new CommandError(`invalid argument "${value}" for "--${flag}" flag: ${why}`, 125);
  const i = value.indexOf(':');
  if (i <= 0) throw bad(`bad format: ${value}`);
  const path = value.slice(0, i);
  if (!path.startsWith('/dev/')) throw bad(`bad format for device path: ${value}`);
  const v = value.slice(i + 1);
  if (unit === 'iops') {
    if (!/^\d+$/.test(v))
      throw bad(
        `invalid rate for device: ${value}. The correct format is <device-path>:<number>. Number must be a positive integer`,
      );
    return { Path: path, Rate: Number(v) };
  }
  try {
    return { Path: path, Rate: parseBytes(v, `--${flag}`) };
  } catch {
    // The docker CLI reports its own format rather than the size parser's words.
    throw bad(
      `invalid rate for device: ${value}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`,
    );
  }
}

/** `--device-cgroup-rule 'c 1:3 mr'`, the docker CLI's format check (the kernel's devices.allow syntax). */
export function parseDeviceCgroupRule(value: string): string {
  if (!/^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.test(value))
    throw new CommandError(
      `invalid argument "${value}" for "--device-cgroup-rule" flag: invalid device cgroup format '${value}'`,
      125,
    );
  return value;
}

/** `--gpus all|N|device=0,1[,capabilities=…]` into a DeviceRequest, as the docker CLI's GpuOpts. */
export function parseGpus(value: string): {
  Driver: string;
  Count: number;
  DeviceIDs: string[] | null;
  Capabilities: string[][];
  Options: Record<string, string>;
} {
  const req = {
    Driver: '',
    Count: 0,
    DeviceIDs: null as string[] | null,
    Capabilities: [['gpu']],
    Options: {},
  };
  for (const field of value.split(',')) {
    const i = field.indexOf('=');
    const [k, v] = i < 0 ? ['count', field] : [field.slice(0, i), field.slice(i + 1)];
    if (k === 'count') {
      req.Count = v === 'all' ? -1 : Number(v);
      if (!Number.isInteger(req.Count))
        throw new CommandError(
          `invalid argument "${value}" for "--gpus" flag: invalid count (${v}): value must be either "all" or an integer`,
          125,
        );
    } else if (k === 'device') req.DeviceIDs = [...(req.DeviceIDs ?? []), v];
    else if (k === 'driver') req.Driver = v;
    else if (k === 'capabilities') req.Capabilities = [[v]];
    else
      throw new CommandError(
        `invalid argument "${value}" for "--gpus" flag: unexpected key '${k}' in '${field}'`,
        125,
      );
  }
  return req;
}

/** `key=value` options (`--annotation`, `--storage-opt`) into a map. */
function keyValues(values: string[], onMissing?: (v: string) => Error): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i < 0 && onMissing) throw onMissing(v);
    out[i < 0 ? v : v.slice(0, i)] = i < 0 ? '' : v.slice(i + 1);
  }
  return out;
}

/** Builds `POST /containers/create` from `run`/`create` flags, as the docker CLI does. */
export function buildCreateRequest(
  flags: FlagValues,
  image: string,
  command: string[],
  env: Record<string, string | undefined>,
): ContainerCreateRequest {
  const list = (name: string) => (flags[name] as string[] | undefined) ?? [];
  const str = (name: string) => flags[name] as string | undefined;
  // `-e NAME` takes NAME from the client's environment, and is left out when it is not set there.
  const envs = [...list('env-file').flatMap(readEnvFile), ...list('env')].flatMap((e) =>
    e.includes('=') ? [e] : env[e] !== undefined ? [`${e}=${env[e]}`] : [],
  );
  const labels: Record<string, string> = {};
  for (const l of [...list('label-file').flatMap(readEnvFile), ...list('label')]) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  const { exposed, bindings } = parsePublish(list('publish'));
  for (const e of list('expose')) {
    const [port, proto = 'tcp'] = e.split('/');
    let range: [number, number];
    try {
      range = parsePortRange(port ?? '');
    } catch (err) {
      throw new CommandError(
        `invalid range format for --expose: ${e}, error: ${(err as Error).message}`,
        125,
      );
    }
    for (let p = range[0]; p <= range[1]; p++) exposed[`${p}/${proto}`] = {};
  }
  const network = str('net') ?? str('network') ?? 'default';
  const hostConfig: NonNullable<ContainerCreateRequest['HostConfig']> = {
    AutoRemove: flags.rm === true,
    NetworkMode: network,
    PortBindings: bindings,
    PublishAllPorts: flags['publish-all'] === true,
    // `-v /path` is an anonymous volume (Config.Volumes); `-v src:dst[:mode]` a bind or named volume.
    Binds: list('volume').filter((v) => v.includes(':')),
    Mounts: list('mount').map(parseMount),
    VolumesFrom: list('volumes-from'),
    RestartPolicy: parseRestart(str('restart') ?? 'no'),
    Privileged: flags.privileged === true,
    CapAdd: list('cap-add'),
    CapDrop: list('cap-drop'),
    SecurityOpt: list('security-opt'),
    ReadonlyRootfs: flags['read-only'] === true,
    Dns: list('dns'),
    DnsSearch: list('dns-search'),
    DnsOptions: list('dns-option'),
    ExtraHosts: list('add-host'),
    Links: list('link'),
    Init: flags.init === true ? true : null,
    Ulimits: list('ulimit').map((u) => {
      const [name = '', limits = ''] = u.split('=');
      const [soft = '', hard = soft] = limits.split(':');
      if (!/^-?\d+$/.test(soft) || !/^-?\d+$/.test(hard))
        throw new CommandError(`invalid ulimit argument: ${u}`, 125);
      return { Name: name, Soft: Number(soft), Hard: Number(hard) };
    }),
    Sysctls: Object.fromEntries(list('sysctl').map((s) => [s.split('=')[0]!, s.slice(s.indexOf('=') + 1)])),
    Tmpfs: Object.fromEntries(
      list('tmpfs').map((t) => [t.split(':')[0]!, t.includes(':') ? t.slice(t.indexOf(':') + 1) : '']),
    ),
    LogConfig: {
      Type: str('log-driver') ?? '',
      Config: Object.fromEntries(list('log-opt').map((o) => [o.split('=')[0]!, o.slice(o.indexOf('=') + 1)])),
    },
  };
  if (str('memory')) hostConfig.Memory = parseBytes(str('memory')!, '-m, --memory');
  if (str('memory-swap'))
    hostConfig.MemorySwap =
      str('memory-swap') === '-1' ? -1 : parseBytes(str('memory-swap')!, '--memory-swap');
  if (str('cpus')) hostConfig.NanoCpus = parseNanoCpus(str('cpus')!);
  if (flags['cpu-shares'] !== undefined) hostConfig.CpuShares = flags['cpu-shares'] as number;
  if (flags['cpu-quota'] !== undefined) hostConfig.CpuQuota = flags['cpu-quota'] as number;
  if (flags['cpu-period'] !== undefined) hostConfig.CpuPeriod = flags['cpu-period'] as number;
  if (str('cpuset-cpus')) hostConfig.CpusetCpus = str('cpuset-cpus')!;
  if (str('cpuset-mems')) hostConfig.CpusetMems = str('cpuset-mems')!;
  if (flags['pids-limit'] !== undefined) hostConfig.PidsLimit = flags['pids-limit'] as number;
  if (str('shm-size')) hostConfig.ShmSize = parseBytes(str('shm-size')!, '--shm-size');
  if (str('runtime')) hostConfig.Runtime = str('runtime')!;
  if (list('device').length > 0) hostConfig.Devices = list('device').map(parseDevice);
  if (str('ipc')) hostConfig.IpcMode = str('ipc')!;
  if (str('pid')) hostConfig.PidMode = str('pid')!;
  if (str('userns')) {
    // As the docker CLI: only the host's user namespace can be asked for by name.
    if (str('userns') !== 'host') throw new CommandError('--userns: invalid USER mode', 125);
    hostConfig.UsernsMode = str('userns')!;
  }

  // Linux resources and namespaces, under the HostConfig names the docker CLI sends.
  if (flags['blkio-weight'] !== undefined) hostConfig.BlkioWeight = flags['blkio-weight'] as number;
  if (list('blkio-weight-device').length > 0)
    hostConfig.BlkioWeightDevice = list('blkio-weight-device').map(parseWeightDevice);
  const throttle = (flag: string, unit: 'bps' | 'iops') =>
    list(flag).map((v) => parseThrottleDevice(v, flag, unit));
  if (list('device-read-bps').length > 0) hostConfig.BlkioDeviceReadBps = throttle('device-read-bps', 'bps');
  if (list('device-write-bps').length > 0)
    hostConfig.BlkioDeviceWriteBps = throttle('device-write-bps', 'bps');
  if (list('device-read-iops').length > 0)
    hostConfig.BlkioDeviceReadIOps = throttle('device-read-iops', 'iops');
  if (list('device-write-iops').length > 0)
    hostConfig.BlkioDeviceWriteIOps = throttle('device-write-iops', 'iops');
  if (list('device-cgroup-rule').length > 0)
    hostConfig.DeviceCgroupRules = list('device-cgroup-rule').map(parseDeviceCgroupRule);
  if (str('cgroup-parent')) hostConfig.CgroupParent = str('cgroup-parent')!;
  if (str('cgroupns') !== undefined) {
    if (!['', 'host', 'private'].includes(str('cgroupns')!))
      throw new CommandError('--cgroupns: invalid CGROUP mode', 125);
    if (str('cgroupns')) hostConfig.CgroupnsMode = str('cgroupns') as 'host' | 'private';
  }
  if (str('uts') !== undefined) {
    if (!['', 'host'].includes(str('uts')!)) throw new CommandError('--uts: invalid UTS mode', 125);
    if (str('uts')) hostConfig.UTSMode = str('uts')!;
  }
  if (list('group-add').length > 0) hostConfig.GroupAdd = list('group-add');
  if (str('memory-reservation'))
    hostConfig.MemoryReservation = parseBytes(str('memory-reservation')!, '--memory-reservation');
  if (str('kernel-memory')) hostConfig.KernelMemory = parseBytes(str('kernel-memory')!, '--kernel-memory');
  // -1 is the flag's "unset" (the kernel's default swappiness).
  if (flags['memory-swappiness'] !== undefined && flags['memory-swappiness'] !== -1)
    hostConfig.MemorySwappiness = flags['memory-swappiness'] as number;
  if (flags['oom-kill-disable'] === true) hostConfig.OomKillDisable = true;
  if (flags['oom-score-adj'] !== undefined) hostConfig.OomScoreAdj = flags['oom-score-adj'] as number;
  if (flags['cpu-rt-period'] !== undefined) hostConfig.CpuRealtimePeriod = flags['cpu-rt-period'] as number;
  if (flags['cpu-rt-runtime'] !== undefined)
    hostConfig.CpuRealtimeRuntime = flags['cpu-rt-runtime'] as number;
  if (list('annotation').length > 0) hostConfig.Annotations = keyValues(list('annotation'));
  if (list('storage-opt').length > 0)
    hostConfig.StorageOpt = keyValues(
      list('storage-opt'),
      (v) =>
        new CommandError(`invalid argument "${v}" for "--storage-opt" flag: invalid storage option`, 125),
    );
  if (str('volume-driver')) hostConfig.VolumeDriver = str('volume-driver')!;
  if (str('gpus')) hostConfig.DeviceRequests = [parseGpus(str('gpus')!)];

  const onFailure = str('health-on-failure');
  if (onFailure !== undefined) {
    if (!['none', 'kill', 'restart', 'stop'].includes(onFailure))
      throw new CommandError(`invalid health-on-failure action: ${onFailure}`, 125);
    // Docker's API has no field for it: the engine reads this label (as Podman's flag does).
    labels[HEALTH_ON_FAILURE_LABEL] = onFailure;
  }

  const request: ContainerCreateRequest = {
    Image: image,
    Cmd: command.length > 0 ? command : null,
    Env: envs,
    Labels: labels,
    ExposedPorts: exposed as Record<string, Record<string, never>>,
    Tty: flags.tty === true,
    OpenStdin: flags.interactive === true,
    StdinOnce: flags.interactive === true,
    AttachStdin: flags.interactive === true,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: hostConfig,
  };
  const anonymous = list('volume').filter((v) => !v.includes(':'));
  if (anonymous.length > 0) request.Volumes = Object.fromEntries(anonymous.map((v) => [v, {}]));
  if (str('entrypoint') !== undefined)
    request.Entrypoint = str('entrypoint') === '' ? [''] : [str('entrypoint')!];
  if (str('workdir')) request.WorkingDir = str('workdir')!;
  if (str('user')) request.User = str('user')!;
  if (str('hostname')) request.Hostname = str('hostname')!;
  if (str('domainname')) request.Domainname = str('domainname')!;
  if (str('mac-address')) request.MacAddress = str('mac-address')!;
  if (str('stop-signal')) request.StopSignal = str('stop-signal')!;
  if (flags['stop-timeout'] !== undefined) request.StopTimeout = flags['stop-timeout'] as number;
  if (flags['no-healthcheck'] === true) request.Healthcheck = { Test: ['NONE'] };
  else if (str('health-cmd')) {
    request.Healthcheck = {
      Test: ['CMD-SHELL', str('health-cmd')!],
      ...(str('health-interval') ? { Interval: parseDuration(str('health-interval')!) } : {}),
      ...(str('health-timeout') ? { Timeout: parseDuration(str('health-timeout')!) } : {}),
      ...(str('health-start-period') ? { StartPeriod: parseDuration(str('health-start-period')!) } : {}),
      ...(str('health-start-interval')
        ? { StartInterval: parseDuration(str('health-start-interval')!) }
        : {}),
      ...(flags['health-retries'] !== undefined ? { Retries: flags['health-retries'] as number } : {}),
    };
  }
  const endpoint: Record<string, unknown> = {};
  const ipam: Record<string, unknown> = {};
  if (str('ip')) ipam.IPv4Address = str('ip');
  if (str('ip6')) ipam.IPv6Address = str('ip6');
  if (list('link-local-ip').length > 0) ipam.LinkLocalIPs = list('link-local-ip');
  if (Object.keys(ipam).length > 0) endpoint.IPAMConfig = ipam;
  if (list('network-alias').length > 0) endpoint.Aliases = list('network-alias');
  if (Object.keys(endpoint).length > 0 && network !== 'default')
    request.NetworkingConfig = { EndpointsConfig: { [network]: endpoint } };
  return request;
}
