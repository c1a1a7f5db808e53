import type { ContainerSummary } from '@ts-container/api';
import { humanDuration } from '@ts-container/common';
import type { ContainerRecord } from './container-store.js';

/** A container as `docker ps` lists it. */
export function containerSummary(c: ContainerRecord, imageName: (id: string) => string): ContainerSummary {
  return {
    Id: c.Id,
    Names: [c.Name],
    Image: c.Config.Image ?? imageName(c.Image),
    ImageID: c.Image,
    Command: dockerCommandLine(c.Path, c.Args),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: c.State.Running ? summaryPorts(c.NetworkSettings.Ports) : [],
    Labels: (c.Config.Labels ?? {}) as Record<string, string>,
    State: c.State.Status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode ?? 'bridge' },
    NetworkSettings: { Networks: (c.NetworkSettings.Networks ?? {}) as Record<string, unknown> },
    Mounts: mountsView(c),
  };
}

/** `docker ps` PORTS: published bindings, and exposed ports without a binding (PrivatePort only). */
function summaryPorts(ports: unknown): ContainerSummary['Ports'] {
  const out: ContainerSummary['Ports'] = [];
  for (const [key, bindings] of Object.entries((ports ?? {}) as Record<string, unknown>)) {
    const [port = '0', type = 'tcp'] = key.split('/');
    const list = Array.isArray(bindings) ? (bindings as { HostIp: string; HostPort: string }[]) : [];
    if (list.length === 0) out.push({ PrivatePort: Number(port), Type: type });
    for (const b of list)
      out.push({
        IP: b.HostIp || '0.0.0.0',
        PrivatePort: Number(port),
        PublicPort: Number(b.HostPort),
        Type: type,
      });
  }
  return out;
}

/** A container's mounts as `inspect` and `ps` show them (Docker's MountPoint). */
export function mountsView(c: ContainerRecord): Record<string, unknown>[] {
  return c.MountPoints.map((p) => ({
    Type: p.Type,
    ...(p.Name ? { Name: p.Name } : {}),
    Source: p.Source,
    Destination: p.Destination,
    ...(p.Type === 'volume' ? { Driver: 'local' } : {}),
    Mode: p.Mode,
    RW: p.RW,
    Propagation: p.Propagation,
  }));
}

/** The `Command` of a container list entry, built as Docker's daemon does: arguments with a space in single quotes. */
export function dockerCommandLine(path: string, args: readonly string[]): string {
  return [path, ...args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' ');
}

export function normaliseSignal(signal: string): string {
  if (/^\d+$/.test(signal)) return signal;
  const upper = signal.toUpperCase();
  return upper.startsWith('SIG') ? upper : `SIG${upper}`;
}

/** `Up 5 minutes`, `Exited (0) 2 hours ago`, `Created`, like `docker ps`. */
export function statusText(c: ContainerRecord, now = Date.now()): string {
  switch (c.State.Status) {
    case 'running': {
      const health = c.State.Health?.Status;
      const suffix =
        health === undefined ? '' : health === 'starting' ? ' (health: starting)' : ` (${health})`;
      return `Up ${humanDuration(now - Date.parse(c.State.StartedAt))}${suffix}`;
    }
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(c.State.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${c.State.ExitCode}) ${humanDuration(now - Date.parse(c.State.FinishedAt))} ago`;
    case 'exited':
      return `Exited (${c.State.ExitCode}) ${humanDuration(now - Date.parse(c.State.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}
