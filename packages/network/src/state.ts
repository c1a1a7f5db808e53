import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { systemError } from './errors.js';

const protocolSchema = z.enum(['tcp', 'udp', 'sctp']);

export const networkRecordSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  name: z.string().min(1),
  /**
   * Docker's driver names: "bridge", "host", "null" for `none`, and "overlay" for swarm-scoped
   * networks (on this single-node swarm their data plane is a local bridge like any other).
   */
  driver: z.enum(['bridge', 'host', 'null', 'overlay']),
  /** Docker's Scope; absent means "local" (records written before swarm mode existed). */
  scope: z.enum(['local', 'swarm']).optional(),
  /** Containers may join a swarm-scoped network only when it is attachable (Docker's rule). */
  attachable: z.boolean().optional(),
  /** The swarm's routing-mesh network; at most one exists. */
  ingress: z.boolean().optional(),
  created: z.string(),
  /** Linux bridge device; only bridge networks have one. */
  bridge: z.string().optional(),
  subnet: z.string().optional(),
  gateway: z.string().optional(),
  ipRange: z.string().optional(),
  internal: z.boolean(),
  /** Whether the user chose the subnet (Docker only lets users pick addresses on such networks). */
  userSubnet: z.boolean(),
  labels: z.record(z.string()),
  options: z.record(z.string()),
  /** IPAM.Config[].AuxiliaryAddresses of the IPv4 pool: addresses the IPAM never hands out. */
  auxAddresses: z.record(z.string()).optional(),
  /** IPAM.Options as given; absent when none were (Docker shows null). */
  ipamOptions: z.record(z.string()).optional(),
  enableIPv6: z.boolean().optional(),
  subnet6: z.string().optional(),
  gateway6: z.string().optional(),
  ipRange6: z.string().optional(),
  auxAddresses6: z.record(z.string()).optional(),
});
export type NetworkRecord = z.infer<typeof networkRecordSchema>;

/** An endpoint is a container's attachment to a network; its address is the IPAM lease. */
export const endpointRecordSchema = z.object({
  id: z.string(),
  networkId: z.string(),
  containerId: z.string(),
  containerName: z.string(),
  netnsPath: z.string(),
  hostVeth: z.string(),
  interfaceName: z.string(),
  ipAddress: z.string(),
  prefixLen: z.number().int(),
  macAddress: z.string(),
  aliases: z.array(z.string()),
  dnsServers: z.array(z.string()),
  ipv6Address: z.string().optional(),
  prefixLen6: z.number().int().optional(),
  /** Links of a user-defined network endpoint, `name:alias`: names only this container resolves. */
  links: z.array(z.string()).optional(),
});
export type EndpointRecord = z.infer<typeof endpointRecordSchema>;

export const publishedPortSchema = z.object({
  containerId: z.string(),
  containerIp: z.string(),
  hostIp: z.string(),
  hostPort: z.number().int().min(1).max(65535),
  containerPort: z.number().int().min(0).max(65535),
  protocol: protocolSchema,
});
export type PublishedPort = z.infer<typeof publishedPortSchema>;

export const networkStateSchema = z.object({
  version: z.literal(1),
  networks: z.array(networkRecordSchema),
  endpoints: z.array(endpointRecordSchema),
  ports: z.array(publishedPortSchema),
});
export type NetworkState = z.infer<typeof networkStateSchema>;

export const STATE_FILE = 'networks.json';

export function emptyState(): NetworkState {
  return { version: 1, networks: [], endpoints: [], ports: [] };
}

/** The package's whole on-disk state: one JSON file, replaced atomically on every change. */
export class StateStore {
  readonly path: string;

  constructor(readonly dir: string) {
    this.path = join(dir, STATE_FILE);
  }

  async load(): Promise<NetworkState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw systemError(`reading network state ${this.path}: ${(err as Error).message}`, err);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw systemError(`network state ${this.path} is not valid JSON`, err);
    }
    const result = networkStateSchema.safeParse(parsed);
    if (!result.success) {
      throw systemError(`network state ${this.path} is invalid: ${result.error.message}`, result.error);
    }
    return result.data;
  }

  async save(state: NetworkState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // Temp file + rename: a crash leaves either the old or the new state, never half of one.
    const temp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, this.path);
  }

  /** Removes temp files a crash left between write and rename. */
  async removeTempFiles(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    await Promise.all(
      names
        .filter((name) => name.startsWith(`${STATE_FILE}.`) && name.endsWith('.tmp'))
        .map((name) => rm(join(this.dir, name), { force: true })),
    );
  }
}
