import { invalidParameter } from './errors.js';

/** A container's `--network` value, parsed. */
export type NetworkMode =
  | { kind: 'bridge' }
  | { kind: 'host' }
  | { kind: 'none' }
  /** Join another container's network namespace (`container:NAME`). */
  | { kind: 'container'; container: string }
  /** A user-defined network, by name or id. */
  | { kind: 'network'; network: string };

/** Parses a `--network` value without checking that a named network exists (see NetworkManager.resolveNetworkMode). */
export function parseNetworkMode(value: string): NetworkMode {
  if (value === '' || value === 'default' || value === 'bridge') return { kind: 'bridge' };
  if (value === 'host') return { kind: 'host' };
  if (value === 'none') return { kind: 'none' };
  if (value.startsWith('container:')) {
    const container = value.slice('container:'.length);
    if (container === '') throw invalidParameter('invalid container format container:<name|id>');
    return { kind: 'container', container };
  }
  return { kind: 'network', network: value };
}

/** The `HostConfig.NetworkMode` string Docker reports for a mode. */
export function formatNetworkMode(mode: NetworkMode): string {
  switch (mode.kind) {
    case 'container':
      return `container:${mode.container}`;
    case 'network':
      return mode.network;
    default:
      return mode.kind;
  }
}
