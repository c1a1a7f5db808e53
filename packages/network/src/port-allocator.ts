import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { conflict, invalidParameter } from './errors.js';
import type { PublishedPort } from './state.js';
import type { PortBindingRequest, ResolvedPortBinding } from './types.js';

// Host ports for published container ports, as libnetwork's portallocator: a requested port, a
// free one of a requested range, or a free one of the kernel's ephemeral range. Which ports are
// taken is the list of published ports the caller keeps; a port is only handed out once the
// binder has reserved it on the host (the userland proxy's listening socket).

/** Reserves a host port (e.g. by listening on it); throws Node's errno errors (EADDRINUSE…). */
export interface HostPortBinder {
  bind(port: PublishedPort): Promise<void>;
}

export interface PortAllocatorOptions {
  binder: HostPortBinder;
  /** The range for bindings without a host port. Default: the kernel's ip_local_port_range. */
  ephemeralRange?: () => Promise<[number, number]>;
  /** Where a scan of a range starts: a random offset below `size`. */
  randomOffset?: (size: number) => number;
}

/** A published port as the API shows it. */
export function resolvedBinding(port: PublishedPort): ResolvedPortBinding {
  return {
    hostIp: port.hostIp,
    hostPort: port.hostPort,
    containerPort: port.containerPort,
    protocol: port.protocol,
  };
}

/** The published port that already serves `b` for this container address (publishing is idempotent). */
export function findPublished(
  ports: readonly PublishedPort[],
  containerId: string,
  containerIp: string,
  b: PortBindingRequest,
): PublishedPort | undefined {
  const hostIp = b.hostIp || '0.0.0.0';
  const protocol = b.protocol ?? 'tcp';
  return ports.find(
    (p) =>
      p.containerId === containerId &&
      p.containerIp === containerIp &&
      p.hostIp === hostIp &&
      p.protocol === protocol &&
      p.containerPort === b.containerPort &&
      (b.hostPort === undefined ||
        b.hostPort === 0 ||
        (b.hostPortEnd === undefined
          ? p.hostPort === b.hostPort
          : p.hostPort >= b.hostPort && p.hostPort <= b.hostPortEnd)),
  );
}

/** Whether hostIp:hostPort is taken; a wildcard address (0.0.0.0, ::) conflicts with every address. */
export function isAllocated(
  ports: readonly PublishedPort[],
  protocol: string,
  hostIp: string,
  hostPort: number,
): boolean {
  return ports.some(
    (p) =>
      p.protocol === protocol &&
      p.hostPort === hostPort &&
      (p.hostIp === hostIp ||
        p.hostIp === '0.0.0.0' ||
        hostIp === '0.0.0.0' ||
        p.hostIp === '::' ||
        hostIp === '::'),
  );
}

/** The container's published ports that `bindings` name (all of them without `bindings`). */
export function matchesUnpublish(
  port: PublishedPort,
  containerId: string,
  bindings?: readonly PortBindingRequest[],
): boolean {
  return (
    port.containerId === containerId &&
    (!bindings ||
      bindings.some(
        (b) =>
          b.containerPort === port.containerPort &&
          (b.protocol ?? 'tcp') === port.protocol &&
          (b.hostPort === undefined || b.hostPort === 0 || b.hostPort === port.hostPort) &&
          (b.hostIp === undefined || b.hostIp === '' || b.hostIp === port.hostIp),
      ))
  );
}

export class PortAllocator {
  private readonly binder: HostPortBinder;
  private readonly ephemeralRange: () => Promise<[number, number]>;
  private readonly randomOffset: (size: number) => number;

  constructor(options: PortAllocatorOptions) {
    this.binder = options.binder;
    this.ephemeralRange = options.ephemeralRange ?? ephemeralPortRange;
    this.randomOffset = options.randomOffset ?? randomInt;
  }

  /**
   * A host port for `b`, bound by the binder, that none of `taken` holds. Throws Docker's
   * `Bind for 0.0.0.0:8080 failed: port is already allocated`.
   */
  async allocate(
    taken: readonly PublishedPort[],
    containerId: string,
    containerIp: string,
    b: PortBindingRequest,
  ): Promise<PublishedPort> {
    const hostIp = b.hostIp || '0.0.0.0';
    const protocol = b.protocol ?? 'tcp';
    if (isIP(hostIp) === 0) throw invalidParameter(`invalid IP address: ${hostIp}`);
    if (!Number.isInteger(b.containerPort) || b.containerPort < 0 || b.containerPort > 65535) {
      throw invalidParameter(`invalid containerPort: ${b.containerPort}`);
    }
    const make = (hostPort: number): PublishedPort => ({
      containerId,
      containerIp,
      hostIp,
      hostPort,
      containerPort: b.containerPort,
      protocol,
    });
    const tryBind = async (port: PublishedPort): Promise<boolean> => {
      if (isAllocated(taken, protocol, hostIp, port.hostPort)) return false;
      try {
        await this.binder.bind(port);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') return false;
        if (code === 'EADDRNOTAVAIL')
          throw invalidParameter(
            `listen ${protocol} ${hostIp}:${port.hostPort}: bind: cannot assign requested address`,
          );
        throw err;
      }
    };
    const hostLabel = hostIp.includes(':') ? `[${hostIp}]` : hostIp;
    if (b.hostPort !== undefined && b.hostPort !== 0 && b.hostPortEnd === undefined) {
      if (!Number.isInteger(b.hostPort) || b.hostPort < 1 || b.hostPort > 65535) {
        throw invalidParameter(`invalid hostPort: ${b.hostPort}`);
      }
      const port = make(b.hostPort);
      if (!(await tryBind(port)))
        throw conflict(`Bind for ${hostLabel}:${b.hostPort} failed: port is already allocated`);
      return port;
    }
    const [start, end] =
      b.hostPort && b.hostPortEnd !== undefined ? [b.hostPort, b.hostPortEnd] : await this.ephemeralRange();
    // Start at a random point so concurrent daemons (and tests) rarely race for the same port.
    const size = end - start + 1;
    const offset = this.randomOffset(size);
    for (let i = 0; i < size; i++) {
      const port = make(start + ((offset + i) % size));
      if (await tryBind(port)) return port;
    }
    throw conflict(
      b.hostPortEnd !== undefined
        ? `Bind for ${hostLabel}:${start}-${end} failed: port is already allocated`
        : 'all ports are allocated',
    );
  }
}

/** The kernel's ephemeral port range (net.ipv4.ip_local_port_range). */
export async function ephemeralPortRange(): Promise<[number, number]> {
  try {
    const [low, high] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'))
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low && high && low <= high) return [low, high];
  } catch {
    // fall through to the kernel's documented default
  }
  return [32768, 60999];
}
