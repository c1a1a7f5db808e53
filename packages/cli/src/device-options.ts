import { parseBytes } from './container-options.js';
import { CommandError } from './context.js';

// Devices and their cgroup limits (`--device`, `--blkio-weight-device`, `--device-*-bps|iops`,
// `--device-cgroup-rule`, `--gpus`), checked as the docker CLI checks them.

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
