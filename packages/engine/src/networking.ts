import type { ContainerCreateRequest } from '@ts-container/api';
import type { ContainerRecord } from './container-store.js';

/** The network namespace a container's OCI spec joins (see @ts-container/runtime). */
export type NetworkNamespace = { mode: 'new' } | { mode: 'host' } | { mode: 'path'; path: string };

export interface ContainerNetworkSetup {
  namespace: NetworkNamespace;
  /** Recorded as the container's NetworkSettings (what `inspect` shows). */
  settings: Record<string, unknown>;
  /** Contents of the container's /etc/resolv.conf and /etc/hosts, when networking decides them. */
  resolvConf?: string;
  hosts?: string;
  /**
   * The container's host and domain names when networking decides them: a container joining
   * another's network namespace (`container:NAME`) takes that container's, so that its name
   * resolves through the /etc/hosts it shares (`hostname -i`).
   */
  hostname?: string;
  domainname?: string;
}

/**
 * How containers get their network. The engine calls `setup` before a container starts and
 * `teardown` after it stops (and on removal, and for leftovers after a crash).
 */
export interface ContainerNetworking {
  /**
   * At create: checks the request's network mode and endpoint settings (Docker fails `create`
   * for an unknown network) and returns the container's initial NetworkSettings.
   */
  prepare?(request: ContainerCreateRequest): Promise<Record<string, unknown>>;
  setup(container: ContainerRecord): Promise<ContainerNetworkSetup>;
  teardown(container: ContainerRecord): Promise<void>;
}

/**
 * Without a network driver: `host` shares the host's namespace, anything else gets a fresh
 * namespace with only loopback (what `--network none` means).
 */
export const isolatedNetworking: ContainerNetworking = {
  async setup(c) {
    const mode = c.HostConfig.NetworkMode ?? 'bridge';
    return { namespace: mode === 'host' ? { mode: 'host' } : { mode: 'new' }, settings: {} };
  },
  async teardown() {},
};
