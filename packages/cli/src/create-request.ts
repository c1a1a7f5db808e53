import { readFileSync } from 'node:fs';
import type { ContainerCreateRequest } from '@ts-container/api';
import { parsePortRange } from '@ts-container/common';
import {
  HEALTH_ON_FAILURE_LABEL,
  parseBytes,
  parseDuration,
  parseMount,
  parseNanoCpus,
  parsePublish,
  parseRestart,
} from './container-options.js';
import { CommandError } from './context.js';
import {
  parseDevice,
  parseDeviceCgroupRule,
  parseGpus,
  parseThrottleDevice,
  parseWeightDevice,
} from './device-options.js';
import type { FlagValues } from './flags.js';

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

  // `run -d` attaches nothing: stdin stays open for any later attach (the docker CLI's run).
  const attached = flags.detach !== true;
  const request: ContainerCreateRequest = {
    Image: image,
    Cmd: command.length > 0 ? command : null,
    Env: envs,
    Labels: labels,
    ExposedPorts: exposed as Record<string, Record<string, never>>,
    Tty: flags.tty === true,
    OpenStdin: flags.interactive === true,
    StdinOnce: attached && flags.interactive === true,
    AttachStdin: attached && flags.interactive === true,
    AttachStdout: attached,
    AttachStderr: attached,
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
