import type { ContainerCreateRequest } from '@ts-container/api';
import { type PortMapping, parseGoDuration, parsePortSpecs, ramInBytes } from '@ts-container/common';
import { CommandError } from './context.js';

// The values of `run`/`create`/`update` flags, parsed and checked with the docker CLI's messages
// (exit status 125) over @ts-container/common's parsers.

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
